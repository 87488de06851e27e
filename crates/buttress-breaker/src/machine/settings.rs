//! The validated policy, in the units the atomic core works in.

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
    pub(crate) wait: u64,
    pub(crate) max_wait: u64,
    pub(crate) multiplier: f64,
    /// Fraction in [0, 1): the wait is scaled by 1 ± jitter.
    pub(crate) jitter: f64,
    pub(crate) permitted_probes: u32,
    pub(crate) seed: u64,
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
    /// half-open: the wait, times the multiplier per re-open, capped, then
    /// jittered.
    pub(crate) fn open_wait(&self, reopens: u32, rng: &mut fastrand::Rng) -> u64 {
        let grown = self.wait as f64 * self.multiplier.powi(reopens.min(1_000) as i32);
        let capped = grown.min(self.max_wait as f64);
        let jittered = if self.jitter > 0.0 {
            capped * (1.0 + self.jitter * (rng.f64() * 2.0 - 1.0))
        } else {
            capped
        };
        jittered.max(0.0) as u64
    }

    /// The retry hint of a half-open rejection: the outcome of the probes
    /// is not known yet, so a short, bounded hint.
    pub(crate) fn half_open_hint(&self) -> u64 {
        self.wait.min(1_000_000_000)
    }
}
