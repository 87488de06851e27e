//! The [`Red`](super::Red) response future and the record it leaves.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier, classify_error};
use buttress_core::{BoxError, Outcome, Rejected};
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::labels::{RedOutcome, status_class_index};
use super::layer::Shared;

/// One request in flight. Recording happens exactly once: on completion,
/// or — if the caller gave up first — on drop, as `cancelled`.
pub(super) struct InFlight {
    shared: Arc<Shared>,
    start: Instant,
    route: usize,
    method: usize,
    grpc: bool,
    done: bool,
}

impl InFlight {
    pub(super) fn start(
        shared: Arc<Shared>,
        start: Instant,
        route: usize,
        method: usize,
        grpc: bool,
    ) -> Self {
        shared.active.increment(1.0);
        InFlight {
            shared,
            start,
            route,
            method,
            grpc,
            done: false,
        }
    }

    fn finish(&mut self, status: Option<http::StatusCode>, outcome: RedOutcome) {
        self.done = true;
        self.shared.active.decrement(1.0);
        let handles =
            self.shared
                .table
                .handles(self.route, self.method, status_class_index(status), outcome);
        handles.duration.record(self.start.elapsed().as_secs_f64());
        handles.requests.increment(1);
        if let Some(errors) = &handles.errors {
            errors.increment(1);
        }
    }

    fn judge<B>(&self, response: &Response<B>) -> RedOutcome {
        // The edge leaves the rejection it answered for in the extensions.
        if let Some(rejected) = response.extensions().get::<Rejected>() {
            return RedOutcome::Rejected(rejected.reason());
        }
        // Built at compile time: a classifier per response would rebuild
        // its status set every call.
        const HTTP: HttpClassifier = HttpClassifier::new();
        const GRPC: GrpcClassifier = GrpcClassifier::new();
        let outcome = if self.grpc {
            GRPC.classify(Ok(response))
        } else {
            HTTP.classify(Ok(response))
        };
        RedOutcome::from_outcome(outcome)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.finish(None, RedOutcome::Cancelled);
        }
    }
}

/// Judges an error without knowing its type: a boxed error (what tower
/// stacks return) is searched for a `Rejected`; any other error fails.
fn error_outcome<E: 'static>(error: &E) -> RedOutcome {
    let Some(boxed) = (error as &dyn Any).downcast_ref::<BoxError>() else {
        return RedOutcome::Failure;
    };
    match Rejected::find(&**boxed) {
        Some(rejected) => RedOutcome::Rejected(rejected.reason()),
        None => RedOutcome::from_outcome(match classify_error(&**boxed) {
            Outcome::Ignored => Outcome::Success,
            other => other,
        }),
    }
}

pin_project! {
    /// The response future of [`Red`](super::Red).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, in_flight: InFlight) -> Self {
        ResponseFuture { inner, in_flight }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if !this.in_flight.done {
            match &result {
                Ok(response) => {
                    let outcome = this.in_flight.judge(response);
                    this.in_flight.finish(Some(response.status()), outcome);
                }
                Err(error) => this.in_flight.finish(None, error_outcome(error)),
            }
        }
        Poll::Ready(result)
    }
}
