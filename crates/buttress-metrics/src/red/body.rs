//! [`RedBody`]: a response body that holds its request's record until
//! the body ends, so that a body failing mid-stream counts as a failure.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use buttress_core::GrpcCode;
use buttress_core::classify::GrpcClassifier;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::future::InFlight;
use super::labels::{RedOutcome, Status};

/// A request judged by its head whose body still streams: recorded when
/// the body ends, with the head's verdict unless the body fails.
pub(super) struct Pending {
    pub(super) in_flight: InFlight,
    pub(super) status: Status,
    pub(super) outcome: RedOutcome,
    pub(super) earned: bool,
}

impl Drop for Pending {
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

pin_project! {
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
    pub struct RedBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }
}

impl<B> RedBody<B> {
    pub(super) fn new(inner: B, pending: Option<Pending>) -> Self {
        RedBody { inner, pending }
    }

    /// `inner`, passed through with nothing to record: the body of a
    /// stack whose metrics layer is off, which keeps the stack's response
    /// type the same either way.
    pub fn unrecorded(inner: B) -> Self {
        Self::new(inner, None)
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body, recording its request now with the verdict its
    /// head earned: for callers that judge by the head alone.
    pub fn into_inner(self) -> B {
        let RedBody { inner, pending, .. } = self;
        drop(pending);
        inner
    }
}

impl<B: Body> Body for RedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(pending) = this.pending.as_mut() {
            let mut failed = matches!(frame, Some(Err(_)));
            if let Some(Ok(frame)) = &frame
                && let Some(trailers) = frame.trailers_ref()
                && pending.in_flight.is_grpc()
            {
                const GRPC: GrpcClassifier = GrpcClassifier::new();
                failed = GRPC.classify_trailers(Some(trailers)).is_failure();
                if let Some(code) = GrpcCode::from_headers(trailers) {
                    pending.status = Status::Grpc(code);
                }
            }
            let ended = match &frame {
                Some(Ok(frame)) => frame.is_trailers() || this.inner.is_end_stream(),
                Some(Err(_)) | None => true,
            };
            if failed {
                pending.outcome = RedOutcome::Failure;
            }
            if ended {
                this.pending.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for RedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedBody")
            .field("inner", &self.inner)
            .field("recorded", &self.pending.is_none())
            .finish()
    }
}
