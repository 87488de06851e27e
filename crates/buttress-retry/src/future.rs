//! The [`Retry`](crate::Retry) response future: a state machine over
//! attempt → (backoff → readiness → attempt)*, boxing only what a retry needs.
//!
//! The future stays small, since callers move it around by value (tower's
//! `oneshot`, axum, hyper): what only a retry needs — the next request and
//! the timer, the service clone — is boxed when a retry or a guard needs
//! it, never on the path that takes no retry. One timer serves both as the
//! backoff and, while an attempt is in flight, as the deadline guard. A
//! request that may be retried carries its copy and one reference count;
//! one that will not be retried carries no copy: its future is the inner
//! future plus a few words.
//!
//! The one allocation a request can pay without a retry is the timer of a
//! layer with its own `timeout`, which guards the first attempt too.

use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use buttress_core::access::{RequestAccess, ResponseAccess};
use buttress_core::classify::{Classify, GrpcCodeSet, Outcome};
use buttress_core::clock;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Reason, Rejected};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use crate::bound::Bound;
use crate::headers;
use crate::hedge::future::HedgeFuture;
use crate::policy::retry_on::unprocessed;
use crate::replay::Replay;

/// When the whole call must end, and how to say so if it does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) reason: Reason,
}

impl Deadline {
    pub(crate) fn new(at: Instant, reason: Reason) -> Self {
        Deadline { at, reason }
    }
}

/// What a future that may retry keeps: what its service shares, the copy
/// to rebuild the request from, and how far it got. The service for the
/// next attempts is cloned at the first retry, boxed: a request that is
/// never retried pays for no clone, and its future stays small.
pub(crate) struct Retrying<S, K, P, C> {
    bound: Arc<Bound<S, P, C>>,
    service: Option<Box<S>>,
    copy: K,
    attempts: u32,
    previous: Duration,
    /// The gRPC codes this request is retried on.
    grpc_codes: GrpcCodeSet,
}

impl<S, K, P, C> Retrying<S, K, P, C> {
    #[inline]
    pub(crate) fn new(bound: Arc<Bound<S, P, C>>, copy: K, grpc_codes: GrpcCodeSet) -> Self {
        Retrying {
            bound,
            service: None,
            copy,
            attempts: 1,
            previous: Duration::ZERO,
            grpc_codes,
        }
    }

    /// After an attempt ended with `result`: the next request and the delay
    /// before sending it, or `None` to return `result` as it is.
    fn next<Req, R>(
        &mut self,
        result: &Result<R, BoxError>,
        deadline: Option<Deadline>,
    ) -> Option<(Box<P::Sent>, Instant)>
    where
        S: Clone,
        P: Replay<Req, Copy = K>,
        P::Sent: RequestAccess,
        R: ResponseAccess,
        C: Classify<R>,
    {
        let shared = &*self.bound.shared;
        let result: Result<&R, &(dyn Error + 'static)> = match result {
            Ok(response) => Ok(response),
            Err(error) => Err(&**error),
        };
        let outcome = shared.classifier.classify(result);
        if outcome == Outcome::Success && !result.is_ok_and(unprocessed) {
            return None;
        }
        let (delay, cause) = shared.policy.next_delay(
            self.attempts,
            self.previous,
            outcome,
            result,
            self.grpc_codes,
            &shared.rng,
        )?;
        let now = Instant::now();
        let resume = clock::after(now, delay);
        if deadline.is_some_and(|deadline| resume >= deadline.at) {
            // The backoff alone would cross the deadline: end now.
            return None;
        }
        let mut request = shared.replay.again(&mut self.copy)?;
        if let Some(budget) = &shared.budget
            && !budget.withdraw(now)
        {
            shared.telemetry.report(Event::BudgetExhausted);
            return None;
        }
        if self.service.is_none() {
            self.service = Some(Box::new(self.bound.service()));
        }
        self.attempts += 1;
        self.previous = delay;
        headers::mark(&mut request, self.attempts);
        shared.telemetry.report(Event::Retry {
            attempt: self.attempts,
            backoff: delay,
            cause,
        });
        Some((Box::new(request), resume))
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Attempt { #[pin] future: F },
        Backoff,
        Ready,
        Done,
    }
}

pin_project! {
    /// The response future of [`Retry`](crate::Retry): attempts one after
    /// another, or hedged.
    pub struct ResponseFuture<S, P, Req, C>
    where
        P: Replay<Req>,
        S: Service<P::Sent>,
    {
        #[pin]
        kind: Kind<S, P, Req, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, P, Req, C>
    where
        P: Replay<Req>,
        S: Service<P::Sent>,
    {
        Sequential { #[pin] future: RetryFuture<S, P, Req, C> },
        // Boxed: its timer and attempts would otherwise grow every
        // caller's future, hedging or not.
        Hedged { future: Pin<Box<HedgeFuture<S, P, Req, C>>> },
    }
}

impl<S, P, Req, C> ResponseFuture<S, P, Req, C>
where
    P: Replay<Req>,
    S: Service<P::Sent>,
{
    #[inline(always)]
    pub(crate) fn new(
        future: S::Future,
        retry: Option<Retrying<S, P::Copy, P, C>>,
        deadline: Option<Deadline>,
        guard_first: bool,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Sequential {
                future: RetryFuture::new(future, retry, deadline, guard_first),
            },
        }
    }

    pub(crate) fn hedged(future: HedgeFuture<S, P, Req, C>) -> Self {
        ResponseFuture {
            kind: Kind::Hedged {
                future: Box::pin(future),
            },
        }
    }
}

impl<S, P, Req, C> Future for ResponseFuture<S, P, Req, C>
where
    P: Replay<Req>,
    P::Sent: RequestAccess,
    S: Service<P::Sent> + Clone,
    S::Error: Into<BoxError>,
    S::Response: ResponseAccess,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Sequential { future } => future.poll(cx),
            KindProj::Hedged { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, P, Req, C> std::fmt::Debug for ResponseFuture<S, P, Req, C>
where
    P: Replay<Req>,
    S: Service<P::Sent>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Sequential { future } => future.fmt(f),
            Kind::Hedged { .. } => f.write_str("ResponseFuture(hedged)"),
        }
    }
}

pin_project! {
    /// Attempts one after another.
    pub(crate) struct RetryFuture<S, P, Req, C>
    where
        P: Replay<Req>,
        S: Service<P::Sent>,
    {
        #[pin]
        state: State<S::Future>,
        timer: Option<Pin<Box<Sleep>>>,
        guarded: bool,
        deadline: Option<Deadline>,
        retry: Option<Retrying<S, P::Copy, P, C>>,
        next: Option<Box<P::Sent>>,
        _request: PhantomData<fn(Req)>,
    }
}

impl<S, P, Req, C> RetryFuture<S, P, Req, C>
where
    P: Replay<Req>,
    S: Service<P::Sent>,
{
    #[inline(always)]
    pub(crate) fn new(
        future: S::Future,
        retry: Option<Retrying<S, P::Copy, P, C>>,
        deadline: Option<Deadline>,
        guard_first: bool,
    ) -> Self {
        let timer = match deadline {
            Some(deadline) if guard_first => Some(Box::pin(sleep_until(deadline.at))),
            _ => None,
        };
        RetryFuture {
            state: State::Attempt { future },
            guarded: timer.is_some(),
            timer,
            deadline,
            retry,
            next: None,
            _request: PhantomData,
        }
    }
}

fn arm(timer: &mut Option<Pin<Box<Sleep>>>, at: Instant) {
    match timer {
        Some(sleep) => sleep.as_mut().reset(at),
        None => *timer = Some(Box::pin(sleep_until(at))),
    }
}

fn expired(guarded: bool, timer: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> bool {
    guarded
        && timer
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
}

impl<S, P, Req, C> Future for RetryFuture<S, P, Req, C>
where
    P: Replay<Req>,
    P::Sent: RequestAccess,
    S: Service<P::Sent> + Clone,
    S::Error: Into<BoxError>,
    S::Response: ResponseAccess,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Attempt { future } => {
                    let result = match future.poll(cx) {
                        Poll::Ready(result) => result.map_err(Into::into),
                        Poll::Pending => {
                            if !expired(*this.guarded, this.timer, cx) {
                                return Poll::Pending;
                            }
                            // Drop the attempt now: it may hold a
                            // connection or a permit.
                            this.state.set(State::Done);
                            let reason =
                                this.deadline.map_or(Reason::DeadlineExceeded, |d| d.reason);
                            return Poll::Ready(Err(Rejected::new(reason).sent().into()));
                        }
                    };
                    let next = match this.retry.as_mut() {
                        Some(retry) => retry.next::<Req, _>(&result, *this.deadline),
                        None => None,
                    };
                    let Some((request, resume)) = next else {
                        this.state.set(State::Done);
                        return Poll::Ready(result);
                    };
                    drop(result);
                    *this.next = Some(request);
                    arm(this.timer, resume);
                    *this.guarded = false;
                    this.state.set(State::Backoff);
                }
                StateProj::Backoff => {
                    if let Some(sleep) = this.timer.as_mut() {
                        ready!(sleep.as_mut().poll(cx));
                    }
                    if let Some(deadline) = this.deadline {
                        arm(this.timer, deadline.at);
                        *this.guarded = true;
                    }
                    this.state.set(State::Ready);
                }
                StateProj::Ready => {
                    let retry = this
                        .retry
                        .as_mut()
                        .expect("only a future that retries waits for readiness");
                    let service = retry
                        .service
                        .as_mut()
                        .expect("a retry clones its service before it waits");
                    match service.poll_ready(cx) {
                        Poll::Pending => {
                            if !expired(*this.guarded, this.timer, cx) {
                                return Poll::Pending;
                            }
                            // Not sent: the attempt never left.
                            this.state.set(State::Done);
                            let reason =
                                this.deadline.map_or(Reason::DeadlineExceeded, |d| d.reason);
                            return Poll::Ready(Err(Rejected::new(reason).into()));
                        }
                        Poll::Ready(Err(error)) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error.into()));
                        }
                        Poll::Ready(Ok(())) => {
                            let mut request =
                                this.next.take().expect("a request waits for readiness");
                            if let Some(deadline) = this.deadline {
                                headers::time_left(&mut *request, deadline.at);
                            }
                            let future = service.call(*request);
                            this.state.set(State::Attempt { future });
                        }
                    }
                }
                StateProj::Done => panic!("retry future polled after completion"),
            }
        }
    }
}

impl<S, P, Req, C> std::fmt::Debug for RetryFuture<S, P, Req, C>
where
    P: Replay<Req>,
    S: Service<P::Sent>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Attempt { .. } => "attempt",
            State::Backoff => "backoff",
            State::Ready => "ready",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempts", &self.retry.as_ref().map(|r| r.attempts))
            .finish_non_exhaustive()
    }
}
