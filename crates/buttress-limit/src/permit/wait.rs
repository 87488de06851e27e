//! Waiting in the queue, for at most a bounded time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::guard::{Permit, Ticket};
use super::pool::PermitPool;

/// Why a wait ended without a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The layer's own patience ran out.
    Patience,
    /// The request's deadline came first.
    Deadline,
}

pin_project! {
    /// A queued caller waiting for its permit until `until`, whichever of
    /// its patience and its request's deadline comes first.
    pub(crate) struct Wait {
        ticket: Ticket,
        #[pin]
        sleep: Sleep,
        cause: Expired,
        queued_at: Instant,
    }
}

impl Wait {
    pub(crate) fn new(ticket: Ticket, queued_at: Instant, until: Instant, cause: Expired) -> Self {
        Wait {
            ticket,
            sleep: tokio::time::sleep_until(until),
            cause,
            queued_at,
        }
    }

    /// Callers queued now in the pool this one waits on.
    pub(crate) fn queued(&self) -> usize {
        self.ticket.pool().map_or(0, |pool| pool.queued())
    }

    /// Whether the pool this one waits on reports its own gauges.
    pub(crate) fn reports_gauges(&self) -> bool {
        self.ticket.pool().is_some_and(PermitPool::reports_gauges)
    }

    /// When the caller joined the queue.
    pub(crate) fn queued_at(&self) -> Instant {
        self.queued_at
    }
}

impl Future for Wait {
    type Output = Result<Permit, Expired>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(permit) = this.ticket.poll_permit(cx) {
            return Poll::Ready(Ok(permit));
        }
        if this.sleep.poll(cx).is_ready() {
            // Granted between the check and the timer firing: take it.
            return Poll::Ready(this.ticket.cancel().ok_or(*this.cause));
        }
        Poll::Pending
    }
}
