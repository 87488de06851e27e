//! The stages of a limited call's response future, shared by the layers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use buttress_core::Rejected;
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::guard::Permit;
use super::wait::{Expired, Wait};

pin_project! {
    /// Queued (holding the ready inner service and the request until a
    /// permit comes), running the inner call, refused, or done.
    #[project = StageProj]
    pub(crate) enum Stage<S, Req, F> {
        Queued {
            #[pin]
            wait: Wait,
            pending: Option<(S, Req)>,
        },
        Running {
            #[pin]
            future: F,
        },
        Refused {
            rejected: Option<Rejected>,
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
    /// The call was refused before it could queue.
    Refused(Rejected),
    /// The inner call finished.
    Finished(T),
}

impl<S, Req, F> Stage<S, Req, F>
where
    S: Service<Req, Future = F>,
    F: Future,
{
    /// Advances the stage. A permit granted in the queue is put in
    /// `permit` before the inner service is called.
    pub(crate) fn poll_step(
        mut self: Pin<&mut Self>,
        permit: &mut Option<Permit>,
        cx: &mut Context<'_>,
    ) -> Poll<Step<F::Output>> {
        match self.as_mut().project() {
            StageProj::Queued { wait, pending } => {
                let queued_at = wait.queued_at();
                let result = ready!(wait.poll(cx));
                let waited = Instant::now().saturating_duration_since(queued_at);
                match result {
                    Ok(granted) => {
                        *permit = Some(granted);
                        let (mut inner, request) = pending.take().expect("queued call sent once");
                        let future = inner.call(request);
                        self.set(Stage::Running { future });
                        Poll::Ready(Step::Admitted { waited })
                    }
                    Err(cause) => {
                        self.set(Stage::Done);
                        Poll::Ready(Step::Expired { cause, waited })
                    }
                }
            }
            StageProj::Running { future } => {
                let output = ready!(future.poll(cx));
                self.set(Stage::Done);
                Poll::Ready(Step::Finished(output))
            }
            StageProj::Refused { rejected } => {
                let rejected = rejected.take().expect("refusal reported once");
                self.set(Stage::Done);
                Poll::Ready(Step::Refused(rejected))
            }
            StageProj::Done => panic!("response future polled after completion"),
        }
    }
}
