//! The stages of a limited call's response future, shared by the layers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use buttress_core::future::OrRejected;
use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::guard::Permit;
use super::wait::{Expired, Wait};

pin_project! {
    /// A queued call: its bounded wait (a tokio timer), and the ready
    /// inner service and the request to send once a permit comes.
    pub(crate) struct Queued<S, Req> {
        #[pin]
        wait: Wait,
        pending: Option<(S, Req)>,
    }
}

pin_project! {
    /// Queued (holding the ready inner service and the request until a
    /// permit comes), then the inner call or a ready refusal (core's
    /// [`OrRejected`]), then done.
    ///
    /// The queued state is boxed. It holds a timer, a service and a
    /// request — several hundred bytes — and the future is as large as its
    /// largest stage, so inline it would be moved on every call, queued or
    /// not. Only a call that queues (overload, already past the lock-free
    /// path) pays the allocation; a call with a free permit carries a
    /// future about the size of the inner one.
    #[project = StageProj]
    pub(crate) enum Stage<S, Req, F> {
        Queued {
            queued: Pin<Box<Queued<S, Req>>>,
        },
        Direct {
            #[pin]
            future: OrRejected<F>,
        },
        // The layer is off (see `Bypass`): the inner call, polled
        // straight through by `poll_bypassed`.
        Bypassed {
            #[pin]
            future: F,
        },
        Done,
    }
}

/// What one poll of a stage came to.
pub(crate) enum Step<T> {
    /// A queued call got its permit after `waited`, and was sent.
    Admitted { waited: Duration },
    /// A queued call gave up after `waited`.
    Expired { cause: Expired, waited: Duration },
    /// The inner call finished, or the call was refused before it could
    /// queue (an error, and no permit was taken).
    Finished(T),
}

impl<S, Req, F> Stage<S, Req, F> {
    /// The inner call, admitted at once.
    #[inline]
    pub(crate) fn running(future: F) -> Self {
        Stage::Direct {
            future: OrRejected::admitted(future),
        }
    }

    /// The inner call of a bypassed layer.
    #[inline]
    pub(crate) fn bypassed(future: F) -> Self {
        Stage::Bypassed { future }
    }

    /// A bypassed layer's call polled straight through, as if the layer
    /// were not there: `None` for every other stage. Called first by the
    /// layers' futures, so that a layer left out costs one branch.
    #[inline]
    pub(crate) fn poll_bypassed<T, E>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Result<T, BoxError>>>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        match self.project() {
            StageProj::Bypassed { future } => Some(future.poll(cx).map_err(Into::into)),
            _ => None,
        }
    }

    /// A call refused before it could queue.
    pub(crate) fn refused(rejected: Rejected) -> Self {
        Stage::Direct {
            future: OrRejected::rejected(rejected),
        }
    }

    /// The stage's name, for `Debug`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stage::Queued { .. } => "queued",
            Stage::Direct { future } if future.is_rejected() => "refused",
            Stage::Direct { .. } => "running",
            Stage::Bypassed { .. } => "bypassed",
            Stage::Done => "done",
        }
    }

    /// A call waiting in `wait`, to send `request` to `inner` once
    /// admitted.
    pub(crate) fn queued(wait: Wait, inner: S, request: Req) -> Self {
        Stage::Queued {
            queued: Box::pin(Queued {
                wait,
                pending: Some((inner, request)),
            }),
        }
    }
}

impl<S, Req, F, T, E> Stage<S, Req, F>
where
    S: Service<Req, Future = F>,
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    /// Advances the stage. A permit granted in the queue is put in
    /// `permit` before the inner service is called.
    pub(crate) fn poll_step(
        mut self: Pin<&mut Self>,
        permit: &mut Option<Permit>,
        cx: &mut Context<'_>,
    ) -> Poll<Step<Result<T, BoxError>>> {
        match self.as_mut().project() {
            StageProj::Queued { queued } => {
                let queued = queued.as_mut().project();
                let (wait, pending) = (queued.wait, queued.pending);
                let queued_at = wait.queued_at();
                let result = ready!(wait.poll(cx));
                let waited = Instant::now().saturating_duration_since(queued_at);
                match result {
                    Ok(granted) => {
                        *permit = Some(granted);
                        let (mut inner, request) = pending.take().expect("queued call sent once");
                        let future = inner.call(request);
                        self.set(Stage::running(future));
                        Poll::Ready(Step::Admitted { waited })
                    }
                    Err(cause) => {
                        self.set(Stage::Done);
                        Poll::Ready(Step::Expired { cause, waited })
                    }
                }
            }
            StageProj::Direct { future } => {
                let output = ready!(future.poll(cx));
                self.set(Stage::Done);
                Poll::Ready(Step::Finished(output))
            }
            StageProj::Bypassed { future } => {
                let output = ready!(future.poll(cx)).map_err(Into::into);
                Poll::Ready(Step::Finished(output))
            }
            StageProj::Done => panic!("response future polled after completion"),
        }
    }
}
