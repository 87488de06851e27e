//! The throttle service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::classify::Classify;
use buttress_core::{BoxError, Reason, Rejected};
use tower_service::Service;

use super::future::{ResponseFuture, Sent};
use super::throttler::Throttler;

/// Rejects calls to a struggling dependency locally; see
/// [`ThrottleLayer`](super::ThrottleLayer).
///
/// `poll_ready` only passes on the inner service's readiness; the draw is
/// made in `call`, and a throttled call fails in its response future.
pub struct Throttle<S, C> {
    inner: S,
    /// `None`: bypassed, left out of a stack (see `Bypass`).
    guard: Option<Guard<C>>,
}

/// What a throttle that is on decides with.
#[derive(Clone)]
struct Guard<C> {
    throttler: Arc<Throttler>,
    classifier: C,
}

impl<S, C> Throttle<S, C> {
    pub(crate) fn new(inner: S, throttler: Arc<Throttler>, classifier: C) -> Self {
        Throttle {
            inner,
            guard: Some(Guard {
                throttler,
                classifier,
            }),
        }
    }

    /// The throttle's service left out of a stack: it calls the inner
    /// service and draws nothing.
    pub(crate) fn bypassed(inner: S) -> Self {
        Throttle { inner, guard: None }
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

impl<S: Clone, C: Clone> Clone for Throttle<S, C> {
    fn clone(&self) -> Self {
        Throttle {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for Throttle<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("inner", &self.inner)
            .field(
                "probability",
                &self.guard.as_ref().map(|g| g.throttler.probability()),
            )
            .field("classifier", &self.guard.as_ref().map(|g| &g.classifier))
            .finish()
    }
}

impl<S, C, Req> Service<Req> for Throttle<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(guard) = &self.guard else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        if guard.throttler.admit() {
            let future = self.inner.call(request);
            let sent = Sent(guard.throttler.clone());
            return ResponseFuture::admitted(future, guard.classifier.clone(), sent);
        }
        let rejected =
            Rejected::new(Reason::Throttled).with_retry_after(guard.throttler.retry_after());
        ResponseFuture::rejected(rejected)
    }
}
