//! The latency of finished calls against a target.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock::{nanos, ticks};
use tokio::time::Instant;

use super::{OverloadSignal, Pressure, Probe};

/// One call adds at most this much (about 68 s).
const MAX_NANOS: u64 = 1 << 36;

/// The mean latency of the calls that finished in the last window
/// (admission to response, through this layer) against a target:
/// overloaded above `target`, relieved at or below `relief`, steady
/// between. Each finished call costs two atomic additions; the verdict is
/// computed once per window by the call that closes it, and forgotten
/// (relieved) after two windows without a finished call, so a shedder
/// that stopped admitting cannot stay stuck on an old verdict.
#[derive(Debug)]
pub struct LatencySignal {
    target: Duration,
    relief: Duration,
    window: Duration,
    /// Calls finished in the open window.
    calls: AtomicU64,
    /// Their summed latency, in nanoseconds.
    sum: AtomicU64,
    /// When the open window closes, in [`ticks`].
    window_end: AtomicU64,
    /// The last closed window's verdict.
    verdict: AtomicU8,
}

const RELIEVED: u8 = 0;
const STEADY: u8 = 1;
const OVERLOADED: u8 = 2;

impl LatencySignal {
    /// A signal with the given target, relief level and window.
    pub fn new(target: Duration, relief: Duration, window: Duration) -> Self {
        LatencySignal {
            target,
            relief,
            window,
            calls: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            window_end: AtomicU64::new(ticks(Instant::now()).saturating_add(nanos(window))),
            verdict: AtomicU8::new(RELIEVED),
        }
    }
}

impl OverloadSignal for LatencySignal {
    fn pressure(&self, probe: &Probe) -> Pressure {
        let verdict = self.verdict.load(Ordering::Relaxed);
        if verdict == RELIEVED {
            return Pressure::Relieved;
        }
        if let Some(now) = probe.now {
            let end = self.window_end.load(Ordering::Relaxed);
            if ticks(now) > end.saturating_add(nanos(self.window)) {
                return Pressure::Relieved; // stale: nothing finished lately
            }
        }
        if verdict == OVERLOADED {
            Pressure::Overloaded
        } else {
            Pressure::Steady
        }
    }

    fn finished(&self, admitted_at: Instant, now: Instant) {
        let latency = nanos(now.saturating_duration_since(admitted_at)).min(MAX_NANOS);
        self.sum.fetch_add(latency, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let at = ticks(now);
        let end = self.window_end.load(Ordering::Relaxed);
        if at < end {
            return;
        }
        let next = at.saturating_add(nanos(self.window));
        if self
            .window_end
            .compare_exchange(end, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another call closed it
        }
        let calls = self.calls.swap(0, Ordering::Relaxed);
        let sum = self.sum.swap(0, Ordering::Relaxed);
        if calls == 0 {
            return;
        }
        let mean = Duration::from_nanos(sum / calls);
        let verdict = if mean > self.target {
            OVERLOADED
        } else if mean <= self.relief {
            RELIEVED
        } else {
            STEADY
        };
        self.verdict.store(verdict, Ordering::Relaxed);
    }

    fn needs_clock(&self) -> bool {
        true
    }
}
