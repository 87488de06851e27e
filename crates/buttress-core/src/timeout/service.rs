//! The [`Timeout`] service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::ResponseFuture;
use super::layer::Shared;
use crate::access::RequestAccess;
use crate::telemetry::Event;
use crate::{BoxError, Reason, Rejected, RequestContext};

/// Ends calls at the smaller of a limit and the request's deadline; built
/// by [`TimeoutLayer`](super::TimeoutLayer).
///
/// The deadline is read from the [`RequestContext`] in the request's
/// extensions, else from the current task's (a client call made while
/// serving a request).
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    /// `None`: the layer is bypassed (see [`Bypass`](crate::layer::Bypass)).
    shared: Option<Arc<Shared>>,
}

impl<S> Timeout<S> {
    pub(super) fn new(inner: S, shared: Option<Arc<Shared>>) -> Self {
        Timeout { inner, shared }
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

fn request_deadline<R: RequestAccess>(request: &R) -> Option<Instant> {
    RequestContext::with_request(request, |ctx| ctx.and_then(RequestContext::deadline))
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(shared) = &self.shared else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        let deadline = request_deadline(&request);
        let limit = shared.limit();
        if limit.is_none() && deadline.is_none() {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let now = crate::clock::now();
        let own_end = limit.map(|limit| crate::clock::after(now, limit));
        let (end, reason) = match (own_end, deadline) {
            // On a tie the layer's own limit is what ran out: a server stack sets
            // the context's deadline from this very timeout.
            (Some(own), Some(deadline)) if deadline < own => (deadline, Reason::DeadlineExceeded),
            (Some(own), _) => (own, Reason::Timeout),
            (None, Some(deadline)) => (deadline, Reason::DeadlineExceeded),
            (None, None) => unreachable!("handled above"),
        };
        if reason == Reason::DeadlineExceeded && end <= now {
            // Spent before we start: refuse without calling the inner
            // service, so nobody downstream works on a dead request.
            shared
                .telemetry
                .report(Event::Rejected(Reason::DeadlineExceeded));
            return ResponseFuture::rejected(Rejected::new(Reason::DeadlineExceeded));
        }
        ResponseFuture::running(
            self.inner.call(request),
            end,
            reason,
            shared.telemetry.clone(),
        )
    }
}
