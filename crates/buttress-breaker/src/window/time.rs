//! The time window: the last T, in buckets, striped over lanes.
//!
//! T is split into B buckets of T/B each; the window holds the current
//! bucket and the B-1 before it. Each bucket is striped over L lanes
//! (about two per core), each lane on its own cache line, and a call
//! writes only the lane of its thread — so two threads recording at once
//! do not fight over one cache line, which is what makes this window
//! scale where a single shared counter would not.
//!
//! A cell is stamped with the bucket number it counts; the first call to
//! find an outdated stamp claims the cell and clears it, so buckets
//! older than T are forgotten without a timer and without a scan.
//!
//! Judging the rates needs the sum over every lane and bucket (B × L
//! cells, a fixed cost). It is skipped while no failure or slow call is in
//! the window — a healthy window cannot trip — which one shared,
//! read-mostly timestamp tells; the sum is taken only while the
//! dependency shows trouble.
//!
//! A call recorded in the instant a cell is being claimed by another
//! thread of the same lane may be lost: at most a few calls at a bucket
//! boundary, never a drift.
//!
//! Cost, for the call path: finding the cell takes no division. The lane
//! count is a power of two (a mask), and the current bucket — its number
//! and its index among the B — is cached in one read-mostly word, checked
//! against the clock with a multiplication; only the first call of each
//! new bucket divides, once per bucket width.

use crate::sync::{AtomicU64, Ordering};

use super::Totals;

/// The most buckets a time window may have.
pub(crate) const MAX_BUCKETS: u32 = 1_000;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Cell {
    /// The bucket number counted here, plus one (0: never used).
    stamp: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

/// Bits of the cached bucket word that hold the bucket's index among the
/// B buckets (B is at most [`MAX_BUCKETS`]).
const INDEX_BITS: u32 = 10;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const _: () = assert!(MAX_BUCKETS as u64 <= INDEX_MASK + 1);

#[derive(Debug)]
pub(crate) struct TimeWindow {
    width: u64,
    buckets: u64,
    /// Lanes minus one; the lane count is a power of two.
    lane_mask: usize,
    cells: Box<[Cell]>,
    /// The latest bucket seen: its stamp above [`INDEX_BITS`], its index
    /// among the buckets below (0: none yet). Written once per bucket.
    current: AtomicU64,
    /// When the latest failure or slow call was recorded, plus one
    /// (0: none since the last reset).
    last_bad: AtomicU64,
}

impl TimeWindow {
    /// A window over `span` nanoseconds in `buckets` buckets, striped over
    /// `lanes` lanes.
    pub(crate) fn new(span: u64, buckets: u32, lanes: usize) -> Self {
        let buckets = u64::from(buckets.clamp(1, MAX_BUCKETS));
        let lanes = lanes.max(1).next_power_of_two();
        TimeWindow {
            width: (span / buckets).max(1),
            buckets,
            lane_mask: lanes - 1,
            cells: (0..lanes * buckets as usize)
                .map(|_| Cell::default())
                .collect(),
            current: AtomicU64::new(0),
            last_bad: AtomicU64::new(0),
        }
    }

    fn span(&self) -> u64 {
        self.width * self.buckets
    }

    #[inline]
    fn stamp(&self, now: u64) -> u64 {
        now / self.width + 1
    }

    /// The stamp of the bucket holding `now`, and its index among the
    /// buckets: from the cache when `now` falls in the cached bucket.
    #[inline]
    fn bucket(&self, now: u64) -> (u64, usize) {
        let cached = self.current.load(Ordering::Relaxed);
        let stamp = cached >> INDEX_BITS;
        // Bucket `stamp` covers [(stamp - 1) * width, stamp * width).
        let start = stamp.wrapping_sub(1).wrapping_mul(self.width);
        if stamp != 0 && now.wrapping_sub(start) < self.width {
            return (stamp, (cached & INDEX_MASK) as usize);
        }
        self.bucket_slow(now)
    }

    #[cold]
    fn bucket_slow(&self, now: u64) -> (u64, usize) {
        let stamp = self.stamp(now);
        let index = stamp % self.buckets;
        // Stamps past the word's range are not cached (a width of a few
        // nanoseconds after centuries of uptime): computed each time.
        if stamp <= u64::MAX >> INDEX_BITS {
            // Only ever forward: a thread that read the clock a moment
            // earlier must not move the cache back.
            self.current
                .fetch_max((stamp << INDEX_BITS) | index, Ordering::Relaxed);
        }
        (stamp, index as usize)
    }

    #[inline]
    pub(crate) fn record(&self, lane: usize, now: u64, failed: bool, slow: bool) -> Option<Totals> {
        let (stamp, bucket) = self.bucket(now);
        let index = (lane & self.lane_mask) * self.buckets as usize + bucket;
        let cell = &self.cells[index];
        let seen = cell.stamp.load(Ordering::Acquire);
        if seen < stamp
            && cell
                .stamp
                .compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            cell.calls.store(0, Ordering::Relaxed);
            cell.failures.store(0, Ordering::Relaxed);
            cell.slow.store(0, Ordering::Relaxed);
        }
        cell.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            cell.failures.fetch_add(1, Ordering::Relaxed);
        }
        if slow {
            cell.slow.fetch_add(1, Ordering::Relaxed);
        }
        if failed || slow {
            self.last_bad.fetch_max(now + 1, Ordering::AcqRel);
        }
        let last_bad = self.last_bad.load(Ordering::Acquire);
        if last_bad == 0 || (now + 1).saturating_sub(last_bad) >= self.span() {
            return None;
        }
        Some(self.totals(now))
    }

    pub(crate) fn totals(&self, now: u64) -> Totals {
        let current = self.stamp(now);
        let mut totals = Totals::default();
        for cell in self.cells.iter() {
            let stamp = cell.stamp.load(Ordering::Acquire);
            // In the window: the current bucket and the B-1 before it (a
            // stamp ahead of `current` comes from a thread that read the
            // clock a moment later).
            if stamp != 0 && stamp + self.buckets > current {
                totals.calls += cell.calls.load(Ordering::Relaxed);
                totals.failures += cell.failures.load(Ordering::Relaxed);
                totals.slow += cell.slow.load(Ordering::Relaxed);
            }
        }
        totals
    }

    pub(crate) fn reset(&self) {
        for cell in self.cells.iter() {
            cell.stamp.store(0, Ordering::Relaxed);
            cell.calls.store(0, Ordering::Relaxed);
            cell.failures.store(0, Ordering::Relaxed);
            cell.slow.store(0, Ordering::Relaxed);
        }
        // `current` maps time to buckets, whatever they hold: kept.
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
        assert_eq!(window.current.load(Ordering::Relaxed) >> INDEX_BITS, 6);
        assert_eq!(window.totals(5 * MS).calls, 2);
        // Ten buckets after the first, the earlier bucket has left.
        assert_eq!(window.totals(14 * MS).calls, 1);
        assert_eq!(window.totals(15 * MS).calls, 0);
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
