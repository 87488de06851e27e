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

use std::sync::atomic::{AtomicU64, Ordering};

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

#[derive(Debug)]
pub(crate) struct TimeWindow {
    width: u64,
    buckets: u64,
    lanes: usize,
    cells: Box<[Cell]>,
    /// When the latest failure or slow call was recorded, plus one
    /// (0: none since the last reset).
    last_bad: AtomicU64,
}

impl TimeWindow {
    /// A window over `span` nanoseconds in `buckets` buckets, striped over
    /// `lanes` lanes.
    pub(crate) fn new(span: u64, buckets: u32, lanes: usize) -> Self {
        let buckets = u64::from(buckets.max(1));
        let lanes = lanes.max(1);
        TimeWindow {
            width: (span / buckets).max(1),
            buckets,
            lanes,
            cells: (0..lanes * buckets as usize)
                .map(|_| Cell::default())
                .collect(),
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

    #[inline]
    pub(crate) fn record(&self, lane: usize, now: u64, failed: bool, slow: bool) -> Option<Totals> {
        let stamp = self.stamp(now);
        let index = (lane % self.lanes) * self.buckets as usize + (stamp % self.buckets) as usize;
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
        self.last_bad.store(0, Ordering::Release);
    }
}

#[cfg(test)]
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
    fn a_healthy_window_is_not_summed() {
        let window = TimeWindow::new(10 * MS, 10, 4);
        assert_eq!(window.record(3, 0, false, false), None);
        assert!(window.record(2, MS, true, false).is_some());
        assert!(window.record(1, 5 * MS, false, false).is_some());
        // The failure's bucket has left the window.
        assert_eq!(window.record(1, 11 * MS, false, false), None);
    }
}
