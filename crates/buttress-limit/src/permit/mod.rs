//! The permit and queue machinery of this crate's concurrency limits (the
//! bulkhead and the adaptive limit), a low-level module that knows no
//! layer: a layer that wants to hear how its calls end owns its pool
//! through the small [`PermitOwner`] trait.
//!
//! - [`counter`]: the atomic core (in flight, limit, waiting), std atomics
//!   only, separable from tokio so a loom model can exercise it;
//! - [`waitlist`]: the queue of waiters, O(1) at both ends and for
//!   cancellation, reusing its slots;
//! - [`pool`]: the two together — a lock-free fast path when a permit is
//!   free, a short lock only to queue or to hand a permit to a waiter;
//! - [`guard`]: the RAII [`Permit`] and a waiter's [`Ticket`];
//! - [`wait`]: a bounded wait (patience, or the request's deadline if
//!   sooner), on tokio time;
//! - [`stage`]: the queued / running-or-refused stages of a response
//!   future.
//!
//! Why not tokio's `Semaphore`: it is FIFO only, and its waits have no
//! bound of their own; a LIFO queue and waits cut short by a deadline need
//! a waiter list of our own, and a fast path of one compare-and-swap.

pub(crate) mod counter;
pub(crate) mod guard;
pub(crate) mod pool;
pub(crate) mod stage;
pub(crate) mod sync;
pub(crate) mod wait;
pub(crate) mod waitlist;

use std::time::Duration;

use buttress_core::access::RequestAccess;
use buttress_core::{RequestContext, clock};
use tokio::time::Instant;

pub use self::guard::Permit;
pub(crate) use self::guard::{PermitOwner, PoolRef, Ticket};
pub(crate) use self::pool::{Enqueued, PermitPool};
pub(crate) use self::stage::{Stage, Step};
pub(crate) use self::wait::{Expired, Wait};
pub use self::waitlist::QueueOrder;

/// What the slow path decided for a caller that found no free permit.
pub(crate) enum SlowPath {
    /// A permit freed up meanwhile.
    Acquired(Permit),
    /// The caller waits.
    Queued(Wait),
    /// The queue is full, or the caller may not wait at all.
    Full,
    /// The request's deadline has already passed: no time to wait.
    PastDeadline,
}

/// Queues a caller for at most `patience`, and never past `deadline`.
pub(crate) fn queue_for(
    source: PoolRef,
    patience: Duration,
    deadline: Option<Instant>,
    now: Instant,
) -> SlowPath {
    if patience.is_zero() {
        return if source.pool().try_acquire() {
            SlowPath::Acquired(Permit::new(source))
        } else {
            SlowPath::Full
        };
    }
    let patient_until = clock::after(now, patience);
    let (until, cause) = match deadline {
        Some(deadline) if deadline < patient_until => (deadline, Expired::Deadline),
        _ => (patient_until, Expired::Patience),
    };
    if until <= now {
        return SlowPath::PastDeadline;
    }
    match source.pool().enqueue(now) {
        Enqueued::Acquired => SlowPath::Acquired(Permit::new(source)),
        Enqueued::Full => SlowPath::Full,
        Enqueued::Queued(slot) => {
            SlowPath::Queued(Wait::new(Ticket::new(source, slot), now, until, cause))
        }
    }
}

/// The request's deadline: from the `RequestContext` in its extensions,
/// else from the current task's context. Read only on the slow path.
pub(crate) fn deadline_of<Req: RequestAccess>(request: &Req) -> Option<Instant> {
    RequestContext::with_request(request, |ctx| ctx.and_then(RequestContext::deadline))
}
