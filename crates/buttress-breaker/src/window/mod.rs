//! Sliding windows of recent outcomes.
//!
//! A breaker trips on *rates*, so it needs the number of calls, failures
//! and slow calls over a recent span, updated on every call at constant
//! cost. Two shapes, as Resilience4j users know them:
//!
//! - [`count`]: exactly the last N calls — a ring of N one-byte slots and
//!   running totals, adjusted by the slot a call overwrites.
//! - [`time`]: the last T, split into buckets — core's
//!   [`SlidingWindow`](buttress_core::window::SlidingWindow), the one
//!   time-bucketed window every layer uses — striped over lanes so that
//!   threads on different cores write different cache lines.
//!
//! Neither rescans stored calls on the call path, and both take bounded
//! memory whatever the traffic: a count window one byte per call, a time
//! window 16 bytes per bucket per lane, with only as many lanes as fit in
//! 16 KiB. A per-key breaker's time window has one lane, and past 512
//! buckets packs a bucket in 8 bytes: at most 8 KiB a key (see [`time`]).

pub(crate) mod count;
pub(crate) mod time;

use self::count::CountWindow;
use self::time::TimeWindow;

/// Calls, failures and slow calls in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The window a breaker keeps.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the count window's head is padded to its own cache lines on purpose"
)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// Records one outcome; returns the totals to judge, or `None` when
    /// the window cannot trip (no failure or slow call in it).
    #[inline]
    pub(crate) fn record(
        &self,
        lane: usize,
        now: impl FnOnce() -> u64,
        failed: bool,
        slow: bool,
    ) -> Option<Totals> {
        match self {
            Window::Count(window) => Some(window.record(failed, slow)),
            Window::Time(window) => window.record(lane, now(), failed, slow),
        }
    }

    /// The totals at `now`.
    pub(crate) fn totals(&self, now: u64) -> Totals {
        match self {
            Window::Count(window) => window.totals(),
            Window::Time(window) => window.totals(now),
        }
    }

    /// Whether the window holds no failure and no slow call at `now`, in
    /// a few loads (a time window may say no for up to a bucket longer
    /// than it holds one).
    #[inline]
    pub(crate) fn is_quiet(&self, now: u64) -> bool {
        match self {
            Window::Count(window) => {
                let totals = window.totals();
                totals.failures == 0 && totals.slow == 0
            }
            Window::Time(window) => window.is_quiet(now),
        }
    }

    /// How many lanes the window is striped over (a count window has
    /// none of its own: `None`).
    pub(crate) fn lanes(&self) -> Option<usize> {
        match self {
            Window::Count(_) => None,
            Window::Time(window) => Some(window.lanes()),
        }
    }

    /// Forgets every call. Not one atomic step with records racing it:
    /// the machine makes sure no record of an earlier period is under way
    /// (see [`Machine::complete`](crate::machine::Machine::complete)).
    pub(crate) fn reset(&self) {
        match self {
            Window::Count(window) => window.reset(),
            Window::Time(window) => window.reset(),
        }
    }
}
