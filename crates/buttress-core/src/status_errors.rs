//! [`GrpcStatusLayer`]: a gRPC client's refusals as the `tonic::Status`
//! they stand for (feature `tonic`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc::is_grpc;
use crate::{BoxError, Rejected};

/// `error` as a gRPC caller should see it: if it holds a [`Rejected`]
/// (an open breaker, a spent deadline, a throttled call), the
/// `tonic::Status` that rejection stands for — UNAVAILABLE,
/// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED…, with its retry hint in
/// `grpc-retry-pushback-ms` — whose source is the original error, so
/// [`Rejected::find`] still finds it. Any other error is returned as it
/// is (tonic makes a transport error UNAVAILABLE itself).
///
/// ```
/// use buttress_core::status_errors::into_status;
/// use buttress_core::{BoxError, Reason, Rejected};
///
/// let error: BoxError = Rejected::new(Reason::CircuitOpen).into();
/// let error = into_status(error);
/// let status = error.downcast_ref::<tonic::Status>().unwrap();
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// assert!(Rejected::find(&*error).is_some());
/// ```
pub fn into_status(error: BoxError) -> BoxError {
    if error.is::<tonic::Status>() {
        return error;
    }
    let Some(rejected) = Rejected::find(&*error).cloned() else {
        return error;
    };
    let mut status = tonic::Status::from(rejected);
    status.set_source(Arc::from(error));
    Box::new(status)
}

/// A client layer that turns the refusals of the layers below it into the
/// `tonic::Status` each stands for ([`into_status`]), on gRPC calls only:
/// a generated tonic client over a Buttress stack then sees UNAVAILABLE
/// for an open breaker, not UNKNOWN. The client stack puts it outermost
/// when the `tonic` feature is on.
///
/// ```
/// use buttress_core::status_errors::GrpcStatusLayer;
/// use buttress_core::{BoxError, Reason, Rejected};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let refusing = tower::service_fn(|_req: http::Request<()>| async {
///     Err::<http::Response<()>, BoxError>(Rejected::new(Reason::CircuitOpen).into())
/// });
/// let call = http::Request::post("/pkg.Svc/Get")
///     .header("content-type", "application/grpc")
///     .body(())
///     .unwrap();
/// let error = GrpcStatusLayer.layer(refusing).oneshot(call).await.unwrap_err();
/// let status = error.downcast_ref::<tonic::Status>().unwrap();
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatusLayer;

impl<S> Layer<S> for GrpcStatusLayer {
    type Service = GrpcStatus<S>;

    fn layer(&self, inner: S) -> GrpcStatus<S> {
        GrpcStatus { inner }
    }
}

/// The service a [`GrpcStatusLayer`] builds.
#[derive(Debug, Clone)]
pub struct GrpcStatus<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for GrpcStatus<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = GrpcStatusFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        GrpcStatusFuture {
            grpc: is_grpc(request.headers()),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`GrpcStatus`].
    #[derive(Debug)]
    pub struct GrpcStatusFuture<F> {
        #[pin]
        inner: F,
        grpc: bool,
    }
}

impl<F, T, E> Future for GrpcStatusFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).map_err(Into::into);
        Poll::Ready(match result {
            Err(error) if *this.grpc => Err(into_status(error)),
            other => other,
        })
    }
}
