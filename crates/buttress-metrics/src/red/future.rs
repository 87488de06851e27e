//! The [`Red`](super::Red) response future and the record it leaves.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier, classify_error};
use buttress_core::grpc::GRPC_STATUS;
use buttress_core::{BoxError, GrpcCode, Outcome, Rejected};
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::body::{Pending, RedBody};
use super::labels::{RedOutcome, status_class_index};
use super::layer::Shared;

/// One request in flight. Recording happens exactly once: on completion,
/// or — if the caller gave up first — on drop, as `cancelled`.
pub(super) struct InFlight {
    shared: Arc<Shared>,
    start: Instant,
    route: usize,
    /// A route read from the request that has no label yet: it gets one
    /// if the answer shows the route exists, else the request is `_OTHER`.
    pending: Option<Box<str>>,
    method: usize,
    grpc: bool,
    done: bool,
}

impl InFlight {
    pub(super) fn start(
        shared: Arc<Shared>,
        start: Instant,
        route: usize,
        pending: Option<Box<str>>,
        method: usize,
        grpc: bool,
    ) -> Self {
        shared.active.increment(1.0);
        InFlight {
            shared,
            start,
            route,
            pending,
            method,
            grpc,
            done: false,
        }
    }

    /// Records the request; `earned` says whether its answer shows its
    /// route exists, so that a pending route may take a label.
    pub(super) fn finish(
        &mut self,
        status: Option<http::StatusCode>,
        outcome: RedOutcome,
        earned: bool,
    ) {
        self.done = true;
        self.shared.active.decrement(1.0);
        if let Some(route) = self.pending.take()
            && earned
        {
            self.route = self.shared.table.route_slot(&route);
        }
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

    /// The record, moved out to be finished by the response body: this
    /// one is left done, recording nothing.
    fn hand_over(&mut self) -> InFlight {
        self.done = true;
        InFlight {
            shared: self.shared.clone(),
            start: self.start,
            route: self.route,
            pending: self.pending.take(),
            method: self.method,
            grpc: self.grpc,
            done: false,
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
            self.finish(None, RedOutcome::Cancelled, false);
        }
    }
}

/// Whether an answer shows its route exists: not a rejection (the edge
/// answered before any route was reached), not a 404, not the gRPC
/// `UNIMPLEMENTED` status a server gives an unknown method.
fn route_exists<B>(response: &Response<B>, outcome: RedOutcome) -> bool {
    !matches!(outcome, RedOutcome::Rejected(_))
        && response.status() != http::StatusCode::NOT_FOUND
        && response
            .headers()
            .get(GRPC_STATUS)
            .and_then(|v| GrpcCode::from_bytes(v.as_bytes()))
            != Some(GrpcCode::Unimplemented)
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
        // `None`: metrics are off.
        in_flight: Option<InFlight>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, in_flight: Option<InFlight>) -> Self {
        ResponseFuture { inner, in_flight }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<RedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let mut pending = None;
        let mut grpc = false;
        if let Some(in_flight) = this.in_flight.as_mut().filter(|f| !f.done) {
            grpc = in_flight.grpc;
            match &result {
                Ok(response) => {
                    let outcome = in_flight.judge(response);
                    let earned = route_exists(response, outcome);
                    // Recorded when the body ends (or is dropped): a body
                    // that fails mid-stream turns the head's verdict to
                    // failure.
                    pending = Some(Pending {
                        in_flight: in_flight.hand_over(),
                        status: response.status(),
                        outcome,
                        earned,
                    });
                }
                Err(error) => in_flight.finish(None, error_outcome(error), false),
            }
        }
        Poll::Ready(result.map(|response| response.map(|body| RedBody::new(body, pending, grpc))))
    }
}
