//! [`RedBody`]: a response body that holds its request's record until
//! the body ends, so that a body failing mid-stream counts as a failure.

use buttress_core::GrpcCode;
use buttress_core::body::{BodyEnd, Watch, Watched};
use buttress_core::classify::GrpcClassifier;

use super::future::InFlight;
use super::labels::{RedOutcome, Status};

/// A request judged by its head whose body still streams: recorded when
/// the body ends, with the head's verdict unless the body fails.
pub struct RedRecord {
    pub(super) in_flight: InFlight,
    pub(super) status: Status,
    pub(super) outcome: RedOutcome,
    pub(super) earned: bool,
}

impl Drop for RedRecord {
    fn drop(&mut self) {
        // Dropped while unwinding: the body panicked (and nothing between
        // it and here caught it) — a failure, not the head's verdict.
        if std::thread::panicking() {
            self.outcome = RedOutcome::Failure;
        }
        self.in_flight
            .finish(self.status, self.outcome, self.earned);
    }
}

/// The response body of [`Red`](super::Red): the inner body, passed
/// through, holding its request's record until the body ends.
///
/// The request is recorded — counted, timed, and `http.*.active` let
/// down — once: when the body ends, fails or is dropped. It keeps the
/// verdict its head earned, unless the body fails: a body error, a
/// panic while it streams, or (for gRPC) trailers with a failing
/// `grpc-status` make it a failure. A gRPC call's status is read from
/// its trailers. A body dropped before its end keeps
/// the head's verdict (a HEAD answer's body is never read, an empty
/// one may not be), so the request's duration runs until its body is
/// done with.
pub type RedBody<B> = Watched<B, RedRecord>;

impl Watch for RedRecord {
    #[inline]
    fn end(&mut self, end: BodyEnd<'_>) {
        match end {
            BodyEnd::Trailers(trailers) if self.in_flight.is_grpc() => {
                const GRPC: GrpcClassifier = GrpcClassifier::new();
                if GRPC.classify_trailers(Some(trailers)).is_failure() {
                    self.outcome = RedOutcome::Failure;
                }
                if let Some(code) = GrpcCode::from_headers(trailers) {
                    self.status = Status::Grpc(code);
                }
            }
            BodyEnd::Error => self.outcome = RedOutcome::Failure,
            BodyEnd::Trailers(_) | BodyEnd::Complete => {}
        }
        // Dropped right after: `Drop` records the request.
    }
}
