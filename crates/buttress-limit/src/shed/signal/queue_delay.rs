//! How long requests waited before reaching the layer, CoDel-style.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock::ticks;

use super::{OverloadSignal, Pressure, Probe};

/// Judges the time a request spent between its start (the instant in its
/// `RequestContext`, taken by the outermost Buttress layer) and its
/// arrival here: accept queues, the runtime's run queue, a bulkhead or
/// adaptive-limit queue placed outside this layer.
///
/// As in CoDel, a short burst of delay is fine; a *standing* queue is not:
/// the signal reads overloaded once every request for `interval` waited
/// longer than `target`; steady while the delay is above target for less
/// than that; relieved when this request waited at most `target`. A
/// request without a context reads relieved (nothing to judge).
#[derive(Debug)]
pub struct QueueDelaySignal {
    target: Duration,
    interval: Duration,
    /// Since when (in [`ticks`](buttress_core::clock::ticks), plus one) every request
    /// waited above target; 0 while the last one did not.
    above_since: AtomicU64,
}

impl QueueDelaySignal {
    /// A signal with the given target delay and interval.
    pub fn new(target: Duration, interval: Duration) -> Self {
        QueueDelaySignal {
            target,
            interval,
            above_since: AtomicU64::new(0),
        }
    }
}

impl OverloadSignal for QueueDelaySignal {
    fn pressure(&self, probe: &Probe) -> Pressure {
        let (Some(waited), Some(now)) = (probe.waited, probe.now) else {
            return Pressure::Relieved;
        };
        if waited <= self.target {
            if self.above_since.load(Ordering::Relaxed) != 0 {
                self.above_since.store(0, Ordering::Relaxed);
            }
            return Pressure::Relieved;
        }
        // Plus one, so that 0 stays free to mean "not above target".
        let at = ticks(now).min(u64::MAX - 1) + 1;
        let since =
            match self
                .above_since
                .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => at,
                Err(since) => since,
            };
        if Duration::from_nanos(at - since.min(at)) >= self.interval {
            Pressure::Overloaded
        } else {
            Pressure::Steady
        }
    }

    fn needs_clock(&self) -> bool {
        true
    }

    fn needs_request_start(&self) -> bool {
        true
    }
}
