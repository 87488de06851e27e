//! The [`Timeout`](super::Timeout) response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::telemetry::{Event, Telemetry};
use crate::{BoxError, Reason, Rejected};

pin_project! {
    /// The response future of [`Timeout`](super::Timeout).
    #[project = Projection]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Passthrough { #[pin] inner: F },
        Running {
            #[pin]
            inner: F,
            #[pin]
            timer: Timer,
            reason: Reason,
            telemetry: Telemetry,
        },
        Refused { rejected: Option<Rejected> },
        Expired,
    }
}

pin_project! {
    /// A running call's timer, made on the first poll the inner future does
    /// not answer: most answers come at once (an in-memory handler, a
    /// cache), and a timer costs a runtime lookup and a shared count. Until
    /// then only its end is kept, in the timer's own room.
    #[project = TimerProjection]
    enum Timer {
        Unarmed { end: Instant },
        Armed { #[pin] sleep: Sleep },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { inner },
        }
    }

    pub(super) fn running(inner: F, end: Instant, reason: Reason, telemetry: Telemetry) -> Self {
        ResponseFuture {
            state: State::Running {
                inner,
                timer: Timer::Unarmed { end },
                reason,
                telemetry,
            },
        }
    }

    pub(super) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            state: State::Refused {
                rejected: Some(rejected),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        match state.as_mut().project() {
            StateProjection::Passthrough { inner } => inner.poll(cx).map_err(Into::into),
            StateProjection::Running {
                inner,
                mut timer,
                reason,
                telemetry,
            } => {
                // The answer wins a tie with the clock: it is already here.
                if let Poll::Ready(result) = inner.poll(cx) {
                    return Poll::Ready(result.map_err(Into::into));
                }
                if let TimerProjection::Unarmed { end } = timer.as_mut().project() {
                    let sleep = sleep_until(*end);
                    timer.set(Timer::Armed { sleep });
                }
                let TimerProjection::Armed { sleep } = timer.project() else {
                    unreachable!("the timer was just armed")
                };
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let reason = *reason;
                telemetry.report(Event::Rejected(reason));
                // Drop the inner future now, not whenever the caller drops
                // us: it may hold a connection or a permit.
                state.set(State::Expired);
                Poll::Ready(Err(Rejected::new(reason).sent().into()))
            }
            StateProjection::Refused { rejected } => {
                let rejected = rejected.take().expect("polled after completion");
                Poll::Ready(Err(rejected.into()))
            }
            StateProjection::Expired => panic!("polled after completion"),
        }
    }
}
