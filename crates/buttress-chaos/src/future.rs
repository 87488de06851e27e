//! The [`Chaos`](crate::Chaos) response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use buttress_core::context::FaultAbort;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Reason};
use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};
use tower_service::Service;

use crate::InjectedFault;
use crate::shared::{ActiveFault, Shared};

pin_project! {
    /// The response future of [`Chaos`](crate::Chaos): the inner call,
    /// a delay before it, or an injected abort.
    pub struct ResponseFuture<F, S, Req> {
        #[pin]
        state: State<F, S, Req>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, S, Req> {
        Called { #[pin] inner: F },
        Delayed {
            #[pin]
            sleep: Sleep,
            service: Option<S>,
            request: Option<Req>,
            abort: Option<FaultAbort>,
            // Held while the delay lasts: the fault is active until then.
            slot: Option<ActiveFault>,
            shared: Arc<Shared>,
        },
        Aborted { error: Option<BoxError> },
    }
}

impl<F, S, Req> ResponseFuture<F, S, Req> {
    pub(crate) fn called(inner: F) -> Self {
        ResponseFuture {
            state: State::Called { inner },
        }
    }

    pub(crate) fn delayed(
        delay: Duration,
        service: S,
        request: Req,
        abort: Option<FaultAbort>,
        slot: ActiveFault,
        shared: Arc<Shared>,
    ) -> Self {
        ResponseFuture {
            state: State::Delayed {
                sleep: sleep(delay),
                service: Some(service),
                request: Some(request),
                abort,
                slot: Some(slot),
                shared,
            },
        }
    }

    pub(crate) fn aborted(abort: FaultAbort, shared: &Shared) -> Self {
        ResponseFuture {
            state: State::Aborted {
                error: Some(abort_now(abort, shared)),
            },
        }
    }
}

fn abort_now(abort: FaultAbort, shared: &Shared) -> BoxError {
    shared.counters.aborted.fetch_add(1, Ordering::Relaxed);
    shared
        .telemetry
        .report(Event::Rejected(Reason::FaultInjected));
    InjectedFault::new(abort).into()
}

impl<F, S, Req, T, E> Future for ResponseFuture<F, S, Req>
where
    F: Future<Output = Result<T, E>>,
    S: Service<Req, Future = F, Response = T, Error = E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProjection::Called { inner } => {
                    return inner.poll(cx).map_err(Into::into);
                }
                StateProjection::Delayed {
                    sleep,
                    service,
                    request,
                    abort,
                    slot,
                    shared,
                } => {
                    ready!(sleep.poll(cx));
                    drop(slot.take());
                    if let Some(abort) = *abort {
                        let error = abort_now(abort, shared);
                        state.set(State::Aborted { error: None });
                        return Poll::Ready(Err(error));
                    }
                    let mut service = service.take().expect("polled after completion");
                    let request = request.take().expect("polled after completion");
                    let inner = service.call(request);
                    state.set(State::Called { inner });
                }
                StateProjection::Aborted { error } => {
                    return Poll::Ready(Err(error.take().expect("polled after completion")));
                }
            }
        }
    }
}
