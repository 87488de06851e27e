//! The validated policy, in the units the atomic core works in.

use std::time::Duration;

use buttress_core::backoff::Backoff;
use buttress_core::clock::nanos;
use buttress_core::rng::SharedRng;

use crate::window::Totals;

/// How the window is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowShape {
    /// The last `size` calls.
    Count { size: u32 },
    /// The last `span` nanoseconds, in `buckets` buckets.
    Time { span: u64, buckets: u32 },
}

/// Thresholds and durations, all durations in nanoseconds of the
/// breaker's clock. Built from a validated config only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) window: WindowShape,
    /// Percent, in (0, 100].
    pub(crate) failure_rate: f64,
    /// A call slower than `slow_after` is slow; `slow_rate` in percent.
    pub(crate) slow: Option<SlowCalls>,
    pub(crate) minimum_calls: u64,
    /// The open wait: `wait` growing by the multiplier on each
    /// consecutive re-open, capped at `max_wait`, spread by proportional
    /// jitter.
    pub(crate) backoff: Backoff,
    pub(crate) permitted_probes: u32,
}

/// Slow-call tracking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowCalls {
    pub(crate) after: u64,
    pub(crate) rate: f64,
}

impl Settings {
    /// Whether `failures` or `slow` out of `calls` reach a threshold.
    #[inline]
    pub(crate) fn crossed(&self, failures: u64, slow: u64, calls: u64) -> bool {
        let calls = calls as f64;
        failures as f64 * 100.0 >= self.failure_rate * calls
            || self
                .slow
                .is_some_and(|s| slow > 0 && slow as f64 * 100.0 >= s.rate * calls)
    }

    /// Whether a closed breaker with these totals trips.
    #[inline]
    pub(crate) fn trips(&self, totals: Totals) -> bool {
        totals.calls >= self.minimum_calls
            && (totals.failures > 0 || totals.slow > 0)
            && self.crossed(totals.failures, totals.slow, totals.calls)
    }

    /// Whether a call that took `elapsed` nanoseconds was slow.
    #[inline]
    pub(crate) fn is_slow(&self, elapsed: u64) -> bool {
        self.slow.is_some_and(|s| elapsed > s.after)
    }

    /// How long to stay open after `reopens` consecutive re-opens from
    /// half-open, in nanoseconds: the wait, times the multiplier per
    /// re-open, jittered, never past the cap.
    pub(crate) fn open_wait(&self, reopens: u32, rng: &SharedRng) -> u64 {
        nanos(self.backoff.delay(reopens, Duration::ZERO, rng))
    }

    /// How long an open or half-open breaker no call reaches is still
    /// worth keeping in a keyed map: its base wait, after which its next
    /// call would probe anyway (see
    /// [`Machine::retention`](super::Machine::retention)).
    pub(crate) fn idle_after(&self) -> u64 {
        nanos(self.backoff.base())
    }

    /// The retry hint of a half-open rejection: the outcome of the probes
    /// is not known yet, so a short, bounded hint.
    pub(crate) fn half_open_hint(&self) -> u64 {
        nanos(self.backoff.base().min(Duration::from_secs(1)))
    }
}
