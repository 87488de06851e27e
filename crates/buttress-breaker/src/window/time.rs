//! The time window: the last T, in buckets, over core's
//! [`SlidingWindow`], striped over lanes.
//!
//! Each bucket counts calls in one word and failures and slow calls in a
//! second, packed (failures in the high 32 bits, slow calls in the low
//! 32): 16 bytes per bucket per lane, so a 10-bucket window keeps one
//! lane per thread group (about two per core, up to 16) in about 3 KiB,
//! and a 1,000-bucket window — a lane of 16,000 bytes — has one lane and
//! stays within 16 KiB in all (see [`SlidingWindow::memory`]). The core
//! window finds the bucket without a division, recycles old buckets
//! without a timer or a scan, and sums lanes and buckets on a read.
//!
//! A packed field saturates rather than wrapping into its neighbour: once
//! a bucket's lane holds 2^31 failures (or slow calls), further ones are
//! not added to it (its calls still are).
//!
//! Judging the rates needs the sum over every lane and bucket (a fixed
//! cost). It is skipped while no failure or slow call is in the window —
//! a healthy window cannot trip — which one shared, read-mostly timestamp
//! tells; the sum is taken only while the dependency shows trouble.

use buttress_core::window::SlidingWindow;

use crate::sync::{AtomicU64, Ordering};

use super::Totals;

/// The most buckets a time window may have.
pub(crate) const MAX_BUCKETS: u32 = 1_000;

/// The counter words of a bucket.
const CALLS: usize = 0;
const BAD: usize = 1;
/// One failure and one slow call in the [`BAD`] word.
const FAILURE: u64 = 1 << 32;
const SLOW: u64 = 1;
const FIELD: u64 = u32::MAX as u64;
/// A bucket's lane takes no more failures (slow calls) past this many:
/// far below the field's range, whatever adders race past the check.
const SATURATED: u64 = 1 << 31;

#[derive(Debug)]
pub(crate) struct TimeWindow {
    counts: SlidingWindow<2>,
    /// When the latest failure or slow call was recorded, plus one
    /// (0: none since the last reset).
    last_bad: AtomicU64,
}

impl TimeWindow {
    /// A window over `span` nanoseconds in `buckets` buckets, striped over
    /// up to `lanes` lanes (as many as fit in 16 KiB).
    pub(crate) fn new(span: u64, buckets: u32, lanes: usize) -> Self {
        TimeWindow {
            counts: SlidingWindow::new(span, buckets.clamp(1, MAX_BUCKETS), lanes),
            last_bad: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn record(&self, lane: usize, now: u64, failed: bool, slow: bool) -> Option<Totals> {
        if let Some(slot) = self.counts.slot(lane, now) {
            slot.add(CALLS, 1);
            if failed || slow {
                let held = slot.get(BAD);
                let mut bad = 0;
                if failed && held >> 32 < SATURATED {
                    bad |= FAILURE;
                }
                if slow && held & FIELD < SATURATED {
                    bad |= SLOW;
                }
                if bad != 0 {
                    slot.add(BAD, bad);
                }
            }
        }
        if failed || slow {
            self.last_bad.fetch_max(now + 1, Ordering::AcqRel);
        }
        let last_bad = self.last_bad.load(Ordering::Acquire);
        if last_bad == 0 || (now + 1).saturating_sub(last_bad) >= self.counts.span() {
            return None;
        }
        Some(self.totals(now))
    }

    pub(crate) fn totals(&self, now: u64) -> Totals {
        // Each bucket's packed word is split before it is summed: a
        // window's slow calls may pass 2^32 where a bucket's cannot.
        let (calls, failures, slow) = self.counts.fold(now, (0, 0, 0), |(c, f, s), bucket| {
            let bad = bucket.get(BAD);
            (c + bucket.get(CALLS), f + (bad >> 32), s + (bad & FIELD))
        });
        Totals {
            calls,
            failures,
            slow,
        }
    }

    /// How many lanes the window is striped over.
    pub(crate) fn lanes(&self) -> usize {
        self.counts.lanes()
    }

    pub(crate) fn reset(&self) {
        // The window's head maps time to buckets, whatever they hold: kept.
        self.counts.reset();
        self.last_bad.store(0, Ordering::Release);
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn forgets_buckets_older_than_the_span() {
        // 10 s in 10 buckets of 1 s, two lanes.
        let window = TimeWindow::new(10_000 * MS, 10, 2);
        window.record(0, 0, true, false);
        window.record(1, 500 * MS, true, true);
        window.record(0, 3_000 * MS, false, false);
        assert_eq!(
            window.totals(3_000 * MS),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10.0 s the first bucket (0..1 s) has left the window.
        assert_eq!(window.totals(10_000 * MS).calls, 1);
        assert_eq!(window.totals(13_000 * MS).calls, 0);
    }

    #[test]
    fn a_reused_cell_is_cleared_first() {
        let window = TimeWindow::new(4 * MS, 4, 1);
        window.record(0, 0, true, false);
        // Same cell, four buckets later.
        let totals = window.record(0, 4 * MS, true, false).unwrap();
        assert_eq!(totals.calls, 1);
    }

    #[test]
    fn an_earlier_clock_reading_counts_in_its_own_bucket() {
        let window = TimeWindow::new(10 * MS, 10, 1);
        window.record(0, 5 * MS, true, false);
        // A thread that read the clock a moment earlier, in the bucket
        // before: counted there, and the cached bucket stays the later.
        window.record(0, 5 * MS - 1, true, false);
        assert_eq!(window.counts.newest(), Some(5));
        assert_eq!(window.totals(5 * MS).calls, 2);
        // Ten buckets after the first, the earlier bucket has left.
        assert_eq!(window.totals(14 * MS).calls, 1);
        assert_eq!(window.totals(15 * MS).calls, 0);
    }

    #[test]
    fn a_thousand_buckets_fit_in_16_kib() {
        let window = TimeWindow::new(60_000 * MS, MAX_BUCKETS, 16);
        let bytes =
            size_of::<TimeWindow>() - size_of::<SlidingWindow<2>>() + window.counts.memory();
        assert!(bytes <= 16 * 1024, "{bytes} bytes");
        // Ten buckets keep every lane.
        assert_eq!(TimeWindow::new(10_000 * MS, 10, 16).counts.lanes(), 16);
    }

    #[test]
    fn packed_fields_saturate_instead_of_wrapping() {
        let window = TimeWindow::new(10 * MS, 10, 1);
        let slot = window.counts.slot(0, 0).unwrap();
        slot.add(BAD, (SATURATED - 1) * FAILURE);
        window.record(0, 0, true, true);
        window.record(0, 0, true, false);
        window.record(0, 0, false, true);
        assert_eq!(
            window.totals(0),
            Totals {
                calls: 3,
                failures: SATURATED,
                slow: 2
            }
        );
    }

    #[test]
    fn a_healthy_window_is_not_summed() {
        let window = TimeWindow::new(10 * MS, 10, 4);
        assert_eq!(window.record(3, 0, false, false), None);
        assert!(window.record(2, MS, true, false).is_some());
        assert!(window.record(1, 5 * MS, false, false).is_some());
        // The failure's bucket has left the window.
        assert_eq!(window.record(1, 11 * MS, false, false), None);
    }
}
