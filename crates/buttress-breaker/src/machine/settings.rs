//! The validated policy, in the units the atomic core works in.

use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
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
///
/// The window's shape is fixed once built; the thresholds, the wait and
/// the probes can change while the breaker runs ([`update`](Self::update)):
/// they live in atomics read on the request path with relaxed loads — as
/// cheap as plain fields — and the wait, read only when the breaker
/// opens, behind a lock. A call that reads some settings before an
/// update and some after judges by a mix of the two, which either one
/// would accept.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) window: WindowShape,
    /// Percent, in (0, 100], as `f64` bits.
    failure_rate: AtomicU64,
    /// A call slower than this many nanoseconds is slow; `u64::MAX`: slow
    /// calls are not tracked.
    slow_after: AtomicU64,
    /// Percent of slow calls that trips, as `f64` bits.
    slow_rate: AtomicU64,
    minimum_calls: AtomicU64,
    /// The open wait: `wait` growing by the multiplier on each
    /// consecutive re-open, capped at `max_wait`, spread by proportional
    /// jitter.
    backoff: Mutex<Backoff>,
    permitted_probes: AtomicU32,
}

/// Slow-call tracking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowCalls {
    pub(crate) after: u64,
    pub(crate) rate: f64,
}

impl Settings {
    /// Settings of these values.
    pub(crate) fn new(
        window: WindowShape,
        failure_rate: f64,
        slow: Option<SlowCalls>,
        minimum_calls: u64,
        backoff: Backoff,
        permitted_probes: u32,
    ) -> Self {
        let settings = Settings {
            window,
            failure_rate: AtomicU64::new(0),
            slow_after: AtomicU64::new(u64::MAX),
            slow_rate: AtomicU64::new(0),
            minimum_calls: AtomicU64::new(0),
            backoff: Mutex::new(backoff),
            permitted_probes: AtomicU32::new(0),
        };
        settings.set(failure_rate, slow, minimum_calls, backoff, permitted_probes);
        settings
    }

    /// Takes `new`'s thresholds, wait and probes (its window's shape is
    /// the caller's to have checked): from the next call on, the breaker
    /// judges by them; its state, window and counts stay.
    pub(crate) fn update(&self, new: &Settings) {
        let slow = new.slow();
        let backoff = new.backoff();
        self.set(
            new.failure_rate(),
            slow,
            new.minimum_calls.load(Relaxed),
            backoff,
            new.permitted_probes(),
        );
    }

    fn set(
        &self,
        failure_rate: f64,
        slow: Option<SlowCalls>,
        minimum_calls: u64,
        backoff: Backoff,
        permitted_probes: u32,
    ) {
        self.failure_rate.store(failure_rate.to_bits(), Relaxed);
        let (after, rate) = slow.map_or((u64::MAX, 0.0), |s| (s.after, s.rate));
        self.slow_rate.store(rate.to_bits(), Relaxed);
        self.slow_after.store(after, Relaxed);
        self.minimum_calls.store(minimum_calls, Relaxed);
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner()) = backoff;
        self.permitted_probes.store(permitted_probes, Relaxed);
    }

    fn failure_rate(&self) -> f64 {
        f64::from_bits(self.failure_rate.load(Relaxed))
    }

    /// Slow-call tracking, if on.
    pub(crate) fn slow(&self) -> Option<SlowCalls> {
        let after = self.slow_after.load(Relaxed);
        (after != u64::MAX).then(|| SlowCalls {
            after,
            rate: f64::from_bits(self.slow_rate.load(Relaxed)),
        })
    }

    /// Probe calls admitted in half-open.
    #[inline]
    pub(crate) fn permitted_probes(&self) -> u32 {
        self.permitted_probes.load(Relaxed)
    }

    fn backoff(&self) -> Backoff {
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `failures` or `slow` out of `calls` reach a threshold.
    #[inline]
    pub(crate) fn crossed(&self, failures: u64, slow: u64, calls: u64) -> bool {
        let calls = calls as f64;
        failures as f64 * 100.0 >= self.failure_rate() * calls
            || (slow > 0
                && self
                    .slow()
                    .is_some_and(|s| slow as f64 * 100.0 >= s.rate * calls))
    }

    /// Whether a closed breaker with these totals trips.
    #[inline]
    pub(crate) fn trips(&self, totals: Totals) -> bool {
        totals.calls >= self.minimum_calls.load(Relaxed)
            && (totals.failures > 0 || totals.slow > 0)
            && self.crossed(totals.failures, totals.slow, totals.calls)
    }

    /// Whether a call that took `elapsed` nanoseconds was slow.
    #[inline]
    pub(crate) fn is_slow(&self, elapsed: u64) -> bool {
        elapsed > self.slow_after.load(Relaxed)
    }

    /// How long to stay open after `reopens` consecutive re-opens from
    /// half-open, in nanoseconds: the wait, times the multiplier per
    /// re-open, jittered, never past the cap.
    pub(crate) fn open_wait(&self, reopens: u32, rng: &SharedRng) -> u64 {
        nanos(self.backoff().delay(reopens, Duration::ZERO, rng))
    }

    /// How long an open or half-open breaker no call reaches is still
    /// worth keeping in a keyed map: its base wait, after which its next
    /// call would probe anyway (see
    /// [`Machine::retention`](super::Machine::retention)).
    pub(crate) fn idle_after(&self) -> u64 {
        nanos(self.backoff().base())
    }

    /// The retry hint of a half-open rejection: the outcome of the probes
    /// is not known yet, so a short, bounded hint.
    pub(crate) fn half_open_hint(&self) -> u64 {
        nanos(self.backoff().base().min(Duration::from_secs(1)))
    }
}
