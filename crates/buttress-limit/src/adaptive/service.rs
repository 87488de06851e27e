//! The adaptive limit service.

use buttress_core::clock;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::RequestAccess;
use buttress_core::classify::Classify;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Reason, Rejected};
use tower_service::Service;

use super::future::ResponseFuture;
use super::limiter::Limiter;
use crate::permit::{self, Permit, PoolRef, SlowPath};

/// Limits the calls in flight to an adaptive limit; see
/// [`AdaptiveLimitLayer`](super::AdaptiveLimitLayer).
///
/// Like the bulkhead, `poll_ready` only passes on the inner service's
/// readiness and capacity is taken in `call`: a free permit at once
/// (lock-free, allocation-free), else through the CoDel queue.
pub struct AdaptiveLimit<S, C> {
    inner: S,
    /// `None`: the layer is bypassed (see
    /// [`Bypass`](buttress_core::layer::Bypass)).
    limiter: Option<Arc<Limiter>>,
    classifier: C,
}

impl<S, C> AdaptiveLimit<S, C> {
    pub(crate) fn new(inner: S, limiter: Option<Arc<Limiter>>, classifier: C) -> Self {
        AdaptiveLimit {
            inner,
            limiter,
            classifier,
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

impl<S: Clone, C: Clone> Clone for AdaptiveLimit<S, C> {
    fn clone(&self) -> Self {
        AdaptiveLimit::new(
            self.inner.clone(),
            self.limiter.clone(),
            self.classifier.clone(),
        )
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for AdaptiveLimit<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("inner", &self.inner)
            .field("limit", &self.limiter.as_ref().map(|l| l.pool.limit()))
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S, C, Req> Service<Req> for AdaptiveLimit<S, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<S::Response> + Clone,
    Req: RequestAccess,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(limiter) = &self.limiter else {
            return ResponseFuture::passthrough(self.inner.call(request), self.classifier.clone());
        };
        if limiter.pool.try_acquire() {
            limiter.telemetry.report(Event::Admitted);
            let permit = Permit::new(PoolRef::Owned(limiter.clone()));
            let admitted_at = clock::now();
            let future = self.inner.call(request);
            return ResponseFuture::running(future, permit, admitted_at, self.classifier.clone());
        }
        let limiter = limiter.clone();
        self.call_slow(&limiter, request)
    }
}

impl<S, C> AdaptiveLimit<S, C> {
    #[cold]
    fn call_slow<Req>(&mut self, limiter: &Arc<Limiter>, request: Req) -> ResponseFuture<S, Req, C>
    where
        S: Service<Req> + Clone,
        C: Clone,
        Req: RequestAccess,
    {
        let now = clock::now();
        let patience = limiter.patience(now);
        let deadline = permit::deadline_of(&request);
        let source = PoolRef::Owned(limiter.clone());
        let refuse = |reason: Reason| {
            limiter.telemetry.report(Event::Rejected(reason));
            ResponseFuture::refused(
                Rejected::new(reason).with_retry_after(limiter.retry_after()),
                now,
                self.classifier.clone(),
            )
        };
        match permit::queue_for(source, patience, deadline, now) {
            SlowPath::Acquired(permit) => {
                limiter.telemetry.report(Event::Admitted);
                let future = self.inner.call(request);
                ResponseFuture::running(future, permit, now, self.classifier.clone())
            }
            SlowPath::Full => refuse(Reason::Overloaded),
            SlowPath::PastDeadline => refuse(Reason::QueueTimeout),
            SlowPath::Queued(wait) => {
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                ResponseFuture::queued(
                    wait,
                    ready,
                    request,
                    limiter.clone(),
                    self.classifier.clone(),
                )
            }
        }
    }
}
