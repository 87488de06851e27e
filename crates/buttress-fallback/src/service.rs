//! The [`Fallback`] service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::classify::Classify;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::shared::{Call, Shared};
use crate::{FallbackBody, ResponseFuture};

/// Answers with a fallback when the inner call fails or is rejected;
/// built by [`FallbackLayer`](crate::FallbackLayer). See the
/// [crate documentation](crate).
pub struct Fallback<S, C> {
    inner: S,
    shared: Arc<Shared<C>>,
    /// An error the inner service reported from `poll_ready`, answered by
    /// the next call (with a fallback, if the call is covered).
    not_ready: Option<BoxError>,
}

impl<S, C> Fallback<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C>>) -> Self {
        Fallback {
            inner,
            shared,
            not_ready: None,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C> Clone for Fallback<S, C> {
    fn clone(&self) -> Self {
        // A held readiness error belongs to the call this instance was
        // made ready for, not to the clone.
        Fallback::new(self.inner.clone(), self.shared.clone())
    }
}

impl<S: fmt::Debug, C> fmt::Debug for Fallback<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("name", &self.shared.telemetry.layer().name())
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for Fallback<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
    C: Classify<Response<ResBody>>,
{
    type Response = Response<FallbackBody<ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.not_ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(error)) => {
                self.not_ready = Some(error.into());
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let covered = self.shared.eligible(request.method());
        if let Some(error) = self.not_ready.take() {
            return ResponseFuture::done(if covered {
                let (call, _request) = Call::prepare(self.shared.clone(), request);
                call.fail(error)
            } else {
                Err(error)
            });
        }
        if !covered {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let (call, request) = Call::prepare(self.shared.clone(), request);
        ResponseFuture::watching(self.inner.call(request), call)
    }
}
