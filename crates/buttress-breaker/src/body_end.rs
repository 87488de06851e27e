//! A breaker that judges HTTP calls when the response body ends:
//! [`CircuitBreakerLayer::judge_on_body_end`].

use std::fmt;
use std::task::{Context, Poll};

use buttress_core::classify::JudgedToBodyEnd;
use buttress_core::layer::DefaultClassifier;
use buttress_core::{BoxError, Classify};
use http::Response;
use tower_layer::Layer;
use tower_service::Service;

use crate::handle::CircuitBreakerHandle;
use crate::layer::CircuitBreakerLayer;
use crate::service::{Gate, gate};
use crate::shared::{Lanes, current_lane};
use crate::track::{Target, Tracker};

/// The response future of [`BodyEndCircuitBreaker`]: the head judged when
/// it arrives, a successful head's body when it ends.
pub type BodyEndResponseFuture<F, C> = JudgedToBodyEnd<F, C, Tracker>;

/// The response body of [`BodyEndCircuitBreaker`]: holds the call's
/// record until the body ends.
pub type BodyEndBody<B> = buttress_core::classify::JudgedBody<B, Tracker>;

impl<C> CircuitBreakerLayer<C> {
    /// Judges HTTP calls to the end of their response body rather than at
    /// their head: a failing head (a 5xx, an error) counts at once, a
    /// successful one only when its body ends — and as a failure if the
    /// body errors or panics mid-stream (the caller got a truncated
    /// answer), or if its gRPC trailers carry a failing status. A body the
    /// caller drops before its end counts as the success its head was.
    /// The breaker is the same one (same state, same handle); the call is
    /// simply counted later, so a half-open probe holds its slot until
    /// its body is done.
    ///
    /// ```
    /// use buttress_breaker::CircuitBreakerLayer;
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = CircuitBreakerLayer::builder().build().unwrap().judge_on_body_end();
    /// let handle = layer.handle();
    /// let svc = ServiceBuilder::new().layer(layer).service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
    /// });
    /// let response = svc.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(handle.stats().calls, 0); // the body is still to come
    /// response.into_body().collect().await.unwrap();
    /// assert_eq!((handle.stats().calls, handle.stats().failures), (1, 0));
    /// # }
    /// ```
    pub fn judge_on_body_end(self) -> BodyEndCircuitBreakerLayer<C> {
        BodyEndCircuitBreakerLayer { layer: self }
    }
}

/// A [`CircuitBreakerLayer`] that judges HTTP calls to the end of their
/// response body; from [`CircuitBreakerLayer::judge_on_body_end`].
pub struct BodyEndCircuitBreakerLayer<C = DefaultClassifier> {
    layer: CircuitBreakerLayer<C>,
}

impl<C> BodyEndCircuitBreakerLayer<C> {
    /// The handle that reads and steers the breaker.
    pub fn handle(&self) -> CircuitBreakerHandle {
        self.layer.handle()
    }
}

impl<C: Clone> Clone for BodyEndCircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        BodyEndCircuitBreakerLayer {
            layer: self.layer.clone(),
        }
    }
}

impl<C> fmt::Debug for BodyEndCircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BodyEndCircuitBreakerLayer")
            .field(&self.layer)
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for BodyEndCircuitBreakerLayer<C> {
    type Service = BodyEndCircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyEndCircuitBreaker {
            inner,
            lanes: self.layer.lanes().clone(),
            classifier: self.layer.classifier().clone(),
        }
    }
}

/// A circuit breaker that judges HTTP calls to the end of their response
/// body; built by [`BodyEndCircuitBreakerLayer`].
#[derive(Clone)]
pub struct BodyEndCircuitBreaker<S, C = DefaultClassifier> {
    inner: S,
    lanes: Lanes,
    classifier: C,
}

impl<S, C> BodyEndCircuitBreaker<S, C> {
    /// A handle to read and steer the shared breaker.
    pub fn handle(&self) -> CircuitBreakerHandle {
        CircuitBreakerHandle::single(self.lanes[0].breaker.clone())
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug, C> fmt::Debug for BodyEndCircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyEndCircuitBreaker")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req, B> Service<Req> for BodyEndCircuitBreaker<S, C>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
    C: Classify<Response<B>> + Clone,
{
    type Response = Response<BodyEndBody<B>>;
    type Error = BoxError;
    type Future = BodyEndResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let lane_index = current_lane();
        let lane = &self.lanes[lane_index & (self.lanes.len() - 1)];
        match gate(&lane.breaker) {
            Gate::Admit { ticket, start } => {
                let tracker = Tracker::new(Target::Lane(lane.clone()), ticket, lane_index, start);
                JudgedToBodyEnd::admitted(self.inner.call(req), self.classifier.clone(), tracker)
            }
            Gate::Reject(rejected) => JudgedToBodyEnd::rejected(rejected),
        }
    }
}
