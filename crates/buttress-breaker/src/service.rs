//! The breaker service.

use std::task::{Context, Poll};

use buttress_core::layer::DefaultClassifier;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Classify, Reason, Rejected};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::handle::CircuitBreakerHandle;
use crate::machine::{Admission, Clock, Ticket};
use crate::shared::{Breaker, Lanes, current_lane};
use crate::track::{Target, Tracker};

/// A circuit breaker in front of a service `S`, judging its results with
/// `C`. Built by [`CircuitBreakerLayer`](crate::CircuitBreakerLayer);
/// clones share one breaker.
///
/// `poll_ready` only passes on the inner service's readiness: the breaker
/// decides in `call`, where a rejection is an immediately ready
/// `Err(`[`Rejected`]`)` (reason [`Reason::CircuitOpen`], with the time
/// until half-open as retry hint), and the inner service is not called.
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S, C = DefaultClassifier> {
    inner: S,
    /// `None`: bypassed, left out of a stack (see `Bypass`).
    guard: Option<Guard<C>>,
}

/// What a breaker that is on decides with.
#[derive(Debug, Clone)]
struct Guard<C> {
    lanes: Lanes,
    classifier: C,
}

impl<S, C> CircuitBreaker<S, C> {
    pub(crate) fn new(inner: S, lanes: Lanes, classifier: C) -> Self {
        CircuitBreaker {
            inner,
            guard: Some(Guard { lanes, classifier }),
        }
    }

    /// The breaker's service left out of a stack: it calls the inner
    /// service and decides nothing.
    pub(crate) fn bypassed(inner: S) -> Self {
        CircuitBreaker { inner, guard: None }
    }

    /// A handle to read and steer the shared breaker; `None` when the
    /// breaker was left out of its stack.
    pub fn handle(&self) -> Option<CircuitBreakerHandle> {
        let guard = self.guard.as_ref()?;
        Some(CircuitBreakerHandle::single(guard.lanes[0].breaker.clone()))
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

/// What the breaker decided for one call.
pub(crate) enum Gate {
    Admit { ticket: Ticket, start: Option<u64> },
    Reject(Rejected),
}

/// Asks `breaker` about one call and reports the decision.
#[inline]
pub(crate) fn gate(breaker: &Breaker) -> Gate {
    let policy = &breaker.policy;
    let clock = breaker.clock();
    let (admission, transition) = breaker.machine.admit(&policy.settings, &clock);
    if let Some(transition) = transition {
        breaker.announce(transition);
    }
    match admission {
        Admission::Admitted(ticket) => {
            policy.telemetry.report(Event::Admitted);
            let start = policy.times_calls().then(|| clock.now());
            Gate::Admit { ticket, start }
        }
        Admission::Rejected(retry_after) => {
            policy
                .telemetry
                .report(Event::Rejected(Reason::CircuitOpen));
            let rejected = Rejected::new(Reason::CircuitOpen);
            Gate::Reject(match retry_after {
                Some(nanos) => rejected.with_retry_after(Breaker::retry_after(nanos)),
                None => rejected,
            })
        }
    }
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(guard) = &self.guard else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        let lane_index = current_lane();
        let lane = &guard.lanes[lane_index & (guard.lanes.len() - 1)];
        match gate(&lane.breaker) {
            Gate::Admit { ticket, start } => {
                let tracker = Tracker::new(Target::Lane(lane.clone()), ticket, lane_index, start);
                ResponseFuture::admitted(self.inner.call(req), guard.classifier.clone(), tracker)
            }
            Gate::Reject(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
