//! The [`Red`](super::Red) response future and the record it leaves.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier, classify_error};
use buttress_core::telemetry::FallbackCause;
use buttress_core::{BoxError, GrpcCode, Outcome, Rejected};
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::body::{RedBody, RedRecord};
use super::labels::{RedOutcome, Shape, Status};
use super::layer::{RedSide, Shared};
use super::table::ServerIndex;

/// One request in flight. Recording happens exactly once: on completion,
/// or — if the caller gave up first — on drop, as `cancelled`.
pub(super) struct InFlight {
    shared: Arc<Shared>,
    start: Instant,
    route: usize,
    /// A route read from the request that has no label yet: it gets one
    /// if the answer shows the route exists, else the request is `_OTHER`.
    pending: Option<Box<str>>,
    server: ServerIndex,
    shape: Shape,
    done: bool,
}

impl InFlight {
    pub(super) fn start(
        shared: Arc<Shared>,
        start: Instant,
        route: usize,
        pending: Option<Box<str>>,
        server: ServerIndex,
        shape: Shape,
    ) -> Self {
        shared.table.active(server, shape).increment(1.0);
        InFlight {
            shared,
            start,
            route,
            pending,
            server,
            shape,
            done: false,
        }
    }

    pub(super) fn is_grpc(&self) -> bool {
        self.shape.is_grpc()
    }

    /// Records the request; `earned` says whether its answer shows its
    /// route exists, so that a pending route may take a label.
    pub(super) fn finish(&mut self, status: Status, outcome: RedOutcome, earned: bool) {
        self.done = true;
        let table = &self.shared.table;
        table.active(self.server, self.shape).decrement(1.0);
        if let Some(route) = self.pending.take()
            && earned
        {
            self.route = table.routes.slot(&route);
        }
        table
            .duration(self.route, self.server, self.shape, status, outcome)
            .record(self.start.elapsed().as_secs_f64());
    }

    fn judge<B>(&self, response: &Response<B>) -> RedOutcome {
        // A fallback layer leaves its cause in the extensions: the answer
        // is its, not the dependency's.
        if response.extensions().get::<FallbackCause>().is_some() {
            return RedOutcome::Fallback;
        }
        // The edge leaves the rejection it answered for in the extensions.
        if let Some(rejected) = response.extensions().get::<Rejected>() {
            return RedOutcome::Rejected(rejected.reason());
        }
        // Built at compile time: a classifier per response would rebuild
        // its status set every call.
        const HTTP: HttpClassifier = HttpClassifier::new();
        const GRPC: GrpcClassifier = GrpcClassifier::new();
        let outcome = if self.is_grpc() {
            GRPC.classify(Ok(response))
        } else {
            HTTP.classify(Ok(response))
        };
        RedOutcome::from_outcome(outcome)
    }

    /// The status a response head carries: its HTTP status; for gRPC the
    /// `grpc-status` of a trailers-only answer, the code a client infers
    /// from a non-200 status, or none yet (it comes in the trailers).
    fn status_of<B>(&self, response: &Response<B>) -> Status {
        if !self.is_grpc() {
            return Status::http(response.status());
        }
        match GrpcCode::from_headers(response.headers()) {
            Some(code) => Status::Grpc(code),
            None if response.status() != http::StatusCode::OK => {
                Status::Grpc(GrpcCode::from_http_status(response.status()))
            }
            None => Status::None,
        }
    }

    /// The status of a call that ended in an error: a client's gRPC call
    /// refused by a Buttress layer ends with the code its caller is
    /// given; nothing else has one.
    fn error_status(&self, outcome: RedOutcome) -> Status {
        match outcome {
            RedOutcome::Rejected(reason)
                if self.is_grpc() && self.shared.side == RedSide::Client =>
            {
                Status::Grpc(reason.grpc_code())
            }
            _ => Status::None,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Status::None, RedOutcome::Cancelled, false);
        }
    }
}

/// Whether an answer shows its route exists: not a rejection (the edge
/// answered before any route was reached), not a 404, not the gRPC
/// `UNIMPLEMENTED` status a server gives an unknown method.
fn route_exists<B>(response: &Response<B>, outcome: RedOutcome) -> bool {
    !matches!(outcome, RedOutcome::Rejected(_))
        && response.status() != http::StatusCode::NOT_FOUND
        && GrpcCode::from_headers(response.headers()) != Some(GrpcCode::Unimplemented)
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

/// A call's result, and the record of its response (none for an error,
/// recorded already, or with metrics off).
type Settled<B, E> = (Result<Response<B>, E>, Option<RedRecord>);

impl<F> ResponseFuture<F> {
    /// Polls the inner future and judges its result once it is ready:
    /// an error is recorded now; a response's record is returned, to be
    /// kept until its body ends or dropped at once.
    #[inline]
    fn poll_settled<B, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Settled<B, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
        E: 'static,
    {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let mut record = None;
        if this.in_flight.as_ref().is_some_and(|f| !f.done) {
            match &result {
                Ok(response) => {
                    // Moved into the record, not copied: no second
                    // reference to the shared table counted up and down
                    // (both cores write that count on every request).
                    let in_flight = this.in_flight.take().expect("checked just above");
                    let outcome = in_flight.judge(response);
                    let earned = route_exists(response, outcome);
                    let status = in_flight.status_of(response);
                    record = Some(RedRecord {
                        in_flight,
                        status,
                        outcome,
                        earned,
                    });
                }
                Err(error) => {
                    if let Some(in_flight) = this.in_flight.as_mut() {
                        let outcome = error_outcome(error);
                        in_flight.finish(in_flight.error_status(outcome), outcome, false);
                    }
                }
            }
        }
        Poll::Ready((result, record))
    }

    /// Polls as [`RedHead`](super::RedHead) needs: the request is
    /// recorded with its head's verdict as soon as the head arrives, and
    /// the response keeps its own body (no wrapper to unwrap again).
    #[inline]
    pub(super) fn poll_head<B, E>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<B>, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
        E: 'static,
    {
        // Dropping the record records it.
        let (result, _record) = std::task::ready!(self.poll_settled(cx));
        Poll::Ready(result)
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<RedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Recorded when the body ends (or is dropped): a body that fails
        // mid-stream turns the head's verdict to failure, and gRPC
        // trailers bring the status.
        let (result, record) = std::task::ready!(self.poll_settled(cx));
        Poll::Ready(result.map(|response| response.map(|body| RedBody::new(body, record))))
    }
}
