//! The permit guard, and the ticket of a queued caller.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::telemetry::Event;
use tokio::time::Instant;

use super::pool::PermitPool;

/// A layer's state that owns a [`PermitPool`] and wants to hear how each
/// call admitted through it ended: an adaptive limit learns from the
/// outcomes and round trips of its calls. The permit machinery knows
/// nothing more of the layers that build on it.
pub(crate) trait PermitOwner: Send + Sync + 'static {
    /// The pool the permits come from.
    fn pool(&self) -> &PermitPool;

    /// A call holding one of the pool's permits ended with `outcome`
    /// after `rtt` (zero when the layer did not time it), at `ended` when
    /// the layer read the clock for it (so that the owner need not read
    /// it again); called once per permit, with [`Outcome::Cancelled`]
    /// when the permit was dropped before its call ended.
    fn finished(&self, outcome: Outcome, rtt: Duration, ended: Option<Instant>);
}

/// Where a permit came from: one shared pool, or a layer's state that
/// owns a pool and hears each call's outcome (an adaptive limit; a keyed
/// bulkhead's key, whose permits give back their place under its total
/// cap).
pub(crate) enum PoolRef {
    Shared(Arc<PermitPool>),
    Owned(Arc<dyn PermitOwner>),
}

impl PoolRef {
    #[inline]
    pub(crate) fn pool(&self) -> &PermitPool {
        match self {
            PoolRef::Shared(pool) => pool,
            PoolRef::Owned(owner) => owner.pool(),
        }
    }
}

/// The right to run one call, returned when dropped.
///
/// A layer's response future holds it while the call runs, so capacity
/// comes back on completion, on error, on panic (the future is dropped
/// while unwinding) and when the caller gives up (the future is dropped).
/// With [`OnBodyEnd`](crate::OnBodyEnd) it rides in the response body
/// instead, until the body ends.
pub struct Permit {
    source: PoolRef,
    /// Whether the call's outcome has been reported.
    finished: bool,
}

impl Permit {
    /// Wraps a permit already counted in `source`.
    pub(crate) fn new(source: PoolRef) -> Self {
        Permit {
            source,
            finished: false,
        }
    }

    /// Reports how the call ended (once): to the pool's owner if it has
    /// one, then to the pool's telemetry. The permit itself is returned when
    /// dropped. `duration` is zero, and `ended` `None`, when the layer
    /// did not time it.
    pub(crate) fn finish(&mut self, outcome: Outcome, duration: Duration, ended: Option<Instant>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let PoolRef::Owned(owner) = &self.source {
            owner.finished(outcome, duration, ended);
        }
        if let Some(telemetry) = self.source.pool().telemetry() {
            telemetry.report(Event::Completed { outcome, duration });
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Dropped before its call ended: the caller gave up, or the call
        // panicked.
        self.finish(Outcome::Cancelled, Duration::ZERO, None);
        self.source.pool().release();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pool = self.source.pool();
        f.debug_struct("Permit")
            .field("in_flight", &pool.in_flight())
            .field("limit", &pool.limit())
            .finish()
    }
}

/// A queued caller's place. Dropping it leaves the queue — and if a permit
/// was handed over meanwhile, returns that permit.
pub(crate) struct Ticket {
    source: Option<PoolRef>,
    slot: usize,
}

impl Ticket {
    pub(crate) fn new(source: PoolRef, slot: usize) -> Self {
        Ticket {
            source: Some(source),
            slot,
        }
    }

    /// Ready with the permit once granted.
    pub(crate) fn poll_permit(&mut self, cx: &mut Context<'_>) -> Poll<Permit> {
        let source = self.source.as_ref().expect("ticket polled after use");
        if source.pool().poll_granted(self.slot, cx.waker()) {
            let source = self.source.take().expect("checked above");
            Poll::Ready(Permit::new(source))
        } else {
            Poll::Pending
        }
    }

    /// The pool the ticket waits on.
    pub(crate) fn pool(&self) -> Option<&PermitPool> {
        self.source.as_ref().map(PoolRef::pool)
    }

    /// Leaves the queue; returns the permit if one was granted meanwhile.
    pub(crate) fn cancel(&mut self) -> Option<Permit> {
        let source = self.source.take()?;
        if source.pool().cancel(self.slot) {
            Some(Permit::new(source))
        } else {
            None
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // A granted permit is wrapped and dropped at once: returned.
        drop(self.cancel());
    }
}
