//! [`HedgeFuture`]: one request's attempts in flight at once, the first
//! acceptable answer winning.

use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::{RequestAccess, ResponseAccess};
use buttress_core::classify::{Classify, GrpcCodeSet, Outcome};
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Rejected, clock};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use crate::future::Deadline;
use crate::headers;
use crate::policy::hints::{self, Hint};
use crate::replay::Replay;
use crate::shared::Shared;

pin_project! {
    #[project = FirstProj]
    enum First<F> {
        Running { #[pin] future: F },
        Done,
    }
}

pin_project! {
    /// A hedged request: the first attempt inline, hedges boxed (only a
    /// request that outlives the delay allocates one), and the timer of
    /// the next hedge.
    pub(crate) struct HedgeFuture<S, P, Req, C>
    where
        P: Replay<Req>,
        S: Service<P::Sent>,
    {
        #[pin]
        first: First<S::Future>,
        first_start: Instant,
        hedges: Vec<(Instant, Pin<Box<S::Future>>)>,
        #[pin]
        timer: Sleep,
        // The service for hedges, and the copy to build them from; `None`
        // once no more may be sent.
        more: Option<(S, P::Copy)>,
        shared: Arc<Shared<P, C>>,
        attempts: u32,
        grpc_codes: GrpcCodeSet,
        deadline: Option<Deadline>,
        // A hedge is paid for and waits for the service to be ready.
        paid: bool,
        // A non-fatal failure came back: the next hedge goes at once.
        at_once: bool,
        // No more hedges: the timer waits for the deadline.
        timing_deadline: bool,
        // The last failure, returned if no attempt succeeds.
        last: Option<Result<S::Response, BoxError>>,
        _request: PhantomData<fn(Req)>,
    }
}

impl<S, P, Req, C> HedgeFuture<S, P, Req, C>
where
    P: Replay<Req>,
    S: Service<P::Sent>,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        future: S::Future,
        service: S,
        copy: P::Copy,
        shared: Arc<Shared<P, C>>,
        grpc_codes: GrpcCodeSet,
        deadline: Option<Deadline>,
        start: Instant,
    ) -> Self {
        let hedging = shared.hedging.as_ref().expect("a hedging layer");
        let at = next_at(start, hedging.delay(), deadline);
        HedgeFuture {
            first: First::Running { future },
            first_start: start,
            hedges: Vec::new(),
            timer: sleep_until(at),
            more: Some((service, copy)),
            shared,
            attempts: 1,
            grpc_codes,
            deadline,
            paid: false,
            at_once: false,
            timing_deadline: false,
            last: None,
            _request: PhantomData,
        }
    }
}

/// When the next hedge is due: `delay` after `now`, never after the
/// deadline (where the timer also ends the call).
fn next_at(now: Instant, delay: std::time::Duration, deadline: Option<Deadline>) -> Instant {
    let at = clock::after(now, delay);
    deadline.map_or(at, |deadline| at.min(deadline.at))
}

/// What one finished attempt means for the request.
enum Verdict<T> {
    /// Return it: an acceptable answer, or a fatal failure.
    Done(T),
    /// A failure worth another attempt (A6's non-fatal): send one now.
    Again(T),
    /// A failure with a server pushback: no more hedges; wait for those in
    /// flight.
    Stop(T),
}

impl<S, P, Req, C> Future for HedgeFuture<S, P, Req, C>
where
    P: Replay<Req>,
    P::Sent: RequestAccess,
    S: Service<P::Sent>,
    S::Error: Into<BoxError>,
    S::Response: ResponseAccess,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shared = &**this.shared;
        let hedging = shared.hedging.as_ref().expect("a hedging layer");
        loop {
            // Every attempt in flight, the first one inline.
            let mut finished = None;
            if let FirstProj::Running { future } = this.first.as_mut().project()
                && let Poll::Ready(result) = future.poll(cx)
            {
                this.first.set(First::Done);
                finished = Some((*this.first_start, result.map_err(Into::into), true));
            }
            if finished.is_none() {
                for index in 0..this.hedges.len() {
                    if let Poll::Ready(result) = this.hedges[index].1.as_mut().poll(cx) {
                        let (start, _) = this.hedges.swap_remove(index);
                        finished = Some((start, result.map_err(Into::into), false));
                        break;
                    }
                }
            }
            if let Some((start, result, first)) = finished {
                let now = Instant::now();
                hedging.record(now.saturating_duration_since(start), now);
                match judge(shared, &result, *this.grpc_codes) {
                    Verdict::Done(()) => {
                        let losers = this.hedges.len()
                            + usize::from(matches!(*this.first, First::Running { .. }));
                        if !first || losers > 0 {
                            shared.telemetry.report(Event::HedgeSettled {
                                won_by_hedge: !first,
                                cancelled: u32::try_from(losers).unwrap_or(u32::MAX),
                            });
                        }
                        // Returning drops the losers: their connections
                        // or streams close, their permits go back.
                        return Poll::Ready(result);
                    }
                    Verdict::Again(()) => {
                        *this.at_once = true;
                        *this.last = Some(result);
                    }
                    Verdict::Stop(()) => {
                        *this.more = None;
                        *this.last = Some(result);
                    }
                }
                continue;
            }

            let in_flight = matches!(*this.first, First::Running { .. }) || !this.hedges.is_empty();
            let max = shared.policy.live.max_attempts();
            if this.more.is_none() || *this.attempts >= max {
                if !in_flight {
                    return Poll::Ready(this.last.take().expect("an attempt finished"));
                }
                let Some(deadline) = *this.deadline else {
                    return Poll::Pending;
                };
                if !*this.timing_deadline {
                    // No hedge will follow: the timer now waits for the
                    // deadline alone.
                    this.timer.as_mut().reset(deadline.at);
                    *this.timing_deadline = true;
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // The call's limit: end it, dropping the attempts in flight.
                return Poll::Ready(Err(Rejected::new(deadline.reason).sent().into()));
            }

            // Another attempt may go: when it is due.
            let due = *this.at_once || *this.paid || this.timer.as_mut().poll(cx).is_ready();
            if !due {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let Some(deadline) = this.deadline
                && now >= deadline.at
            {
                // No hedge starts at or after the deadline.
                *this.more = None;
                if in_flight {
                    return Poll::Ready(Err(Rejected::new(deadline.reason).sent().into()));
                }
                continue;
            }
            if !*this.paid {
                if let Some(budget) = &shared.budget
                    && !budget.withdraw(now)
                {
                    shared.telemetry.report(Event::BudgetExhausted);
                    *this.more = None;
                    continue;
                }
                *this.paid = true;
            }
            let (service, copy) = this.more.as_mut().expect("checked above");
            match service.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => {
                    *this.more = None;
                    *this.paid = false;
                    if this.last.is_none() {
                        *this.last = Some(Err(error.into()));
                    }
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            *this.paid = false;
            let Some(mut request) = shared.replay.again(copy) else {
                // The body cannot be sent again (larger than the limit,
                // say): no hedges for this request.
                *this.more = None;
                continue;
            };
            *this.attempts += 1;
            headers::mark(&mut request, *this.attempts);
            if let Some(deadline) = this.deadline {
                headers::time_left(&mut request, deadline.at);
            }
            let delay = hedging.delay();
            shared.telemetry.report(Event::HedgeSent {
                attempt: *this.attempts,
                after: now.saturating_duration_since(*this.first_start),
            });
            let future = service.call(request);
            this.hedges.push((now, Box::pin(future)));
            *this.at_once = false;
            this.timer
                .as_mut()
                .reset(next_at(now, delay, *this.deadline));
        }
    }
}

/// Judges a finished attempt: acceptable answers and fatal failures end
/// the request; a failure the retry policy would retry (A6's non-fatal
/// codes) asks for the next hedge at once, unless the server pushed back,
/// which stops hedging.
fn judge<P, C, R>(
    shared: &Shared<P, C>,
    result: &Result<R, BoxError>,
    grpc_codes: GrpcCodeSet,
) -> Verdict<()>
where
    R: ResponseAccess,
    C: Classify<R>,
{
    let result: Result<&R, &(dyn Error + 'static)> = match result {
        Ok(response) => Ok(response),
        Err(error) => Err(&**error),
    };
    let outcome = shared.classifier.classify(result);
    if outcome != Outcome::Failure {
        return Verdict::Done(());
    }
    if shared
        .policy
        .retry_on
        .judge(outcome, result, grpc_codes)
        .is_none()
    {
        return Verdict::Done(());
    }
    match hints::read(result) {
        Hint::None => Verdict::Again(()),
        Hint::After(_) | Hint::DoNotRetry => Verdict::Stop(()),
    }
}
