//! The [`Edge`] service.

use std::convert::Infallible;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll};

use buttress_core::BoxError;
use http::{Request, Response};
use tower_service::Service;

use super::future::Cause;
use super::{EdgeBody, ResponseFuture};
use buttress_core::answer::Protocol;
use buttress_core::chain;

/// Turns the inner service's rejections, errors and panics into answers;
/// built by [`EdgeLayer`](super::EdgeLayer).
pub struct Edge<S> {
    inner: S,
    /// An error the inner service reported from `poll_ready`, held to be
    /// answered by the next call: a server must not fail in `poll_ready`.
    not_ready: Option<BoxError>,
}

impl<S> Edge<S> {
    pub(super) fn new(inner: S) -> Self {
        Edge {
            inner,
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

impl<S: Clone> Clone for Edge<S> {
    fn clone(&self) -> Self {
        // A held readiness error belongs to the call this instance was
        // made ready for, not to the clone.
        Edge::new(self.inner.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for Edge<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edge")
            .field("inner", &self.inner)
            .field("not_ready", &self.not_ready.is_some())
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Edge<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<EdgeBody<ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.poll_ready(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
            Ok(Poll::Ready(Err(error))) => {
                self.not_ready = Some(error.into());
                Poll::Ready(Ok(()))
            }
            Err(payload) => {
                self.not_ready = Some(super::future::panic_error(&*payload));
                Poll::Ready(Ok(()))
            }
        }
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Noted by the context layer outside, when there is one.
        let protocol = chain::protocol().unwrap_or_else(|| Protocol::of(request.headers()));
        if let Some(error) = self.not_ready.take() {
            return ResponseFuture::answer(Cause::Error(error), protocol);
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => ResponseFuture::running(future, protocol),
            Err(payload) => {
                super::answer::log_panic(&*payload);
                ResponseFuture::answer(Cause::Panic, protocol)
            }
        }
    }
}
