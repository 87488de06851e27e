//! The [`Retry`] service.

use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::{RequestAccess, ResponseAccess};
use buttress_core::classify::Classify;
use buttress_core::clock;
use buttress_core::codec::{GRPC_TIMEOUT, parse_grpc_timeout};
use buttress_core::layer::DefaultClassifier;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Reason, RequestContext};
use tower_service::Service;

use crate::bound::Bound;
use crate::future::{Deadline, ResponseFuture, Retrying};
use crate::hedge::future::HedgeFuture;
use crate::replay::{BufferBody, Replay};
use crate::shared::Shared;

/// Retries failed calls to `S` under the layer's policy and budget; built
/// by [`RetryLayer`](crate::RetryLayer).
///
/// Errors are boxed ([`BoxError`]). A call that is given up on returns the
/// last attempt's answer or error as it was; the layer adds an error of
/// its own only when its deadline ends an attempt in flight (a sent
/// [`Rejected`](buttress_core::Rejected) with reason `DeadlineExceeded`,
/// or `Timeout` for the layer's own limit).
///
/// `poll_ready` passes on the inner service's readiness, and the service
/// made ready serves the first attempt. A request's retries go through a
/// clone of the service as the layer wrapped it, taken at its first retry
/// and made ready before each attempt (so `S` must be `Clone`): the
/// request path clones nothing (unless the layer hedges: hedges run on
/// the service made ready), unlike tower's `Retry`, which clones the whole
/// inner stack into every response future.
pub struct Retry<S, P = BufferBody, C = DefaultClassifier> {
    inner: S,
    bound: Arc<Bound<S, P, C>>,
    /// Set by `get_mut`: the inner service may have been replaced (a
    /// fresh connection, say), so the next call takes its template anew
    /// and retries go where first attempts go.
    stale: bool,
}

impl<S: Clone, P, C> Retry<S, P, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<P, C>>) -> Self {
        let bound = Arc::new(Bound::new(&inner, shared));
        Retry {
            inner,
            bound,
            stale: false,
        }
    }
}

impl<S, P, C> Retry<S, P, C> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably. A service changed or replaced here also
    /// serves the retries of the calls made after it.
    pub fn get_mut(&mut self) -> &mut S {
        self.stale = true;
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, P, C> Clone for Retry<S, P, C> {
    fn clone(&self) -> Self {
        Retry {
            inner: self.inner.clone(),
            bound: self.bound.clone(),
            stale: self.stale,
        }
    }
}

impl<S: std::fmt::Debug, P, C> std::fmt::Debug for Retry<S, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("shared", &self.bound.shared)
            .finish()
    }
}

impl<S, P, C, Req> Service<Req> for Retry<S, P, C>
where
    Req: RequestAccess,
    P: Replay<Req>,
    P::Sent: RequestAccess,
    S: Service<P::Sent> + Clone,
    S::Error: Into<BoxError>,
    S::Response: ResponseAccess,
    C: Classify<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, P, Req, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        if self.stale {
            self.stale = false;
            self.bound = Arc::new(Bound::new(&self.inner, self.bound.shared.clone()));
        }
        let shared = &*self.bound.shared;
        let policy = &shared.policy;
        let (start, context_deadline) = RequestContext::with_request(&request, |ctx| {
            ctx.map_or((None, None), |ctx| (Some(ctx.start()), ctx.deadline()))
        });
        // A timeout the application set on the call itself (tonic's
        // `set_timeout` writes `grpc-timeout`; the client context layer
        // has lowered it to the request's own deadline) bounds the retries
        // as the request's deadline does.
        let context_deadline = match call_deadline(request.headers()) {
            Some(call) => Some(context_deadline.map_or(call, |ctx| ctx.min(call))),
            None => context_deadline,
        };

        // Read the clock only if the layer's own limit needs it; the budget
        // takes the context's start instant, or counts the request undated.
        let timeout = policy.live.timeout();
        let now = timeout.map(|_| clock::now());
        let own_deadline = now
            .zip(timeout)
            .map(|(now, limit)| clock::after(now, limit));
        if let Some(budget) = &shared.budget {
            match now.or(start) {
                Some(at) => budget.deposit(at),
                None => budget.deposit_untimed(),
            }
        }
        shared.telemetry.report(Event::Admitted);

        let deadline = match (context_deadline, own_deadline) {
            (Some(ctx), Some(own)) if ctx < own => {
                Some(Deadline::new(ctx, Reason::DeadlineExceeded))
            }
            (_, Some(own)) => Some(Deadline::new(own, Reason::Timeout)),
            (Some(ctx), None) => Some(Deadline::new(ctx, Reason::DeadlineExceeded)),
            (None, None) => None,
        };
        // The first attempt is bounded by the inner (per-attempt) timeout
        // layer, which reads the request's deadline itself; the layer
        // guards it only when it has a limit of its own.
        let guard_first = own_deadline.is_some();

        let Some(grpc_codes) = policy.retryable(&request) else {
            let future = self.inner.call(shared.replay.once(request));
            return ResponseFuture::new(future, None, deadline, guard_first);
        };
        let (sent, copy) = shared.replay.first(request, &shared.memory);
        let Some(copy) = copy else {
            let future = self.inner.call(sent);
            return ResponseFuture::new(future, None, deadline, guard_first);
        };
        if shared.hedging.is_some() {
            // Hedges run beside the first attempt, on the service that
            // sent it; a clone takes its place here.
            let clone = self.inner.clone();
            let mut service = std::mem::replace(&mut self.inner, clone);
            let future = service.call(sent);
            let start = now.unwrap_or_else(clock::now);
            let hedged = HedgeFuture::new(
                future,
                service,
                copy,
                self.bound.shared.clone(),
                grpc_codes,
                deadline,
                start,
            );
            return ResponseFuture::hedged(hedged);
        }
        let future = self.inner.call(sent);
        let retrying = Retrying::new(self.bound.clone(), copy, grpc_codes);
        ResponseFuture::new(future, Some(retrying), deadline, guard_first)
    }
}

/// The deadline a `grpc-timeout` on the call sets, if it carries one.
#[inline]
fn call_deadline(headers: &http::HeaderMap) -> Option<tokio::time::Instant> {
    let left = parse_grpc_timeout(headers.get(GRPC_TIMEOUT)?).ok()?;
    Some(clock::after(clock::now(), left))
}
