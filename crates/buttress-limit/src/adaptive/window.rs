//! One window of samples, gathered with a few atomic operations per call.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Round-trip times are summed in the low 44 bits (about 4.8 hours of
/// nanoseconds per window), the count in the high 20 bits, so that one
/// `fetch_add` records both.
const SUM_BITS: u32 = 44;
const SUM_MASK: u64 = (1 << SUM_BITS) - 1;
/// Windows close early rather than let the count overflow...
const MAX_CALLS: u64 = 1 << (64 - SUM_BITS - 1);
/// ...or the sum.
const MAX_SUM: u64 = 1 << (SUM_BITS - 1);
/// A single call contributes at most this much to the sum.
const MAX_RTT_NANOS: u64 = 1 << 36;

/// A snapshot of a closed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) calls: u32,
    pub(crate) rtt_sum_nanos: u64,
    pub(crate) rtt_min_nanos: u64,
    pub(crate) drops: u32,
    pub(crate) max_in_flight: usize,
}

/// The open window's counters, written by every completed call: on cache
/// lines of their own, apart from the permit counter and the `Arc`'s
/// reference count, which every call writes too.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Window {
    packed: AtomicU64,
    min_nanos: AtomicU64,
    drops: AtomicU32,
    max_in_flight: AtomicUsize,
}

impl Window {
    pub(crate) const fn new() -> Self {
        Window {
            packed: AtomicU64::new(0),
            min_nanos: AtomicU64::new(u64::MAX),
            drops: AtomicU32::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// Adds one call. Returns whether the window is so full that it must
    /// close now, whatever its age.
    #[inline]
    pub(crate) fn record(&self, rtt_nanos: u64, dropped: bool, in_flight: usize) -> bool {
        let rtt = rtt_nanos.min(MAX_RTT_NANOS);
        let before = self
            .packed
            .fetch_add((1 << SUM_BITS) + rtt, Ordering::Relaxed);
        // Most calls are neither the fastest nor the most crowded of their
        // window: read first, write only when it changes something.
        if rtt < self.min_nanos.load(Ordering::Relaxed) {
            self.min_nanos.fetch_min(rtt, Ordering::Relaxed);
        }
        if in_flight > self.max_in_flight.load(Ordering::Relaxed) {
            self.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        }
        if dropped {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        (before >> SUM_BITS) >= MAX_CALLS || (before & SUM_MASK) >= MAX_SUM
    }

    /// Calls counted so far.
    pub(crate) fn calls(&self) -> u32 {
        (self.packed.load(Ordering::Relaxed) >> SUM_BITS) as u32
    }

    /// Closes the window: returns its counters and starts a new one. Calls
    /// recorded while this runs may land in either window.
    pub(crate) fn take(&self) -> Snapshot {
        let packed = self.packed.swap(0, Ordering::Relaxed);
        Snapshot {
            calls: (packed >> SUM_BITS) as u32,
            rtt_sum_nanos: packed & SUM_MASK,
            rtt_min_nanos: self.min_nanos.swap(u64::MAX, Ordering::Relaxed),
            drops: self.drops.swap(0, Ordering::Relaxed),
            max_in_flight: self.max_in_flight.swap(0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counts_and_resets() {
        let window = Window::new();
        window.record(10, false, 3);
        window.record(30, true, 7);
        assert!(!window.record(20, false, 5));
        let snap = window.take();
        assert_eq!(
            snap,
            Snapshot {
                calls: 3,
                rtt_sum_nanos: 60,
                rtt_min_nanos: 10,
                drops: 1,
                max_in_flight: 7
            }
        );
        assert_eq!(window.take().calls, 0);
    }

    #[test]
    fn a_huge_rtt_cannot_spill_into_the_count() {
        let window = Window::new();
        window.record(u64::MAX, false, 1);
        let snap = window.take();
        assert_eq!(snap.calls, 1);
        assert_eq!(snap.rtt_sum_nanos, MAX_RTT_NANOS);
    }
}
