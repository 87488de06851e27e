//! Requests and accepts over a sliding, bucketed window.
//!
//! Std atomics only, time passed in as nanoseconds: no tokio, no lock, so
//! a loom model can exercise it alone.
//!
//! Each bucket packs requests (high 32 bits) and accepts (low 32 bits)
//! into one word, so a call is recorded with one `fetch_add` on the bucket
//! and one on the running totals — the window is never rescanned. The
//! call that first sees a newer bucket period moves the head and clears
//! the buckets that fell out, subtracting them from the totals.
//!
//! Ordering: a recorder adds to the totals *before* the bucket, and a
//! clearer takes the bucket *before* subtracting it (acquire/release on
//! the bucket), so the totals never fall below the sum of the buckets and
//! neither half of the packed word borrows from the other. A call racing a
//! move may land in a bucket a period off; it is then counted and expired
//! with that bucket, consistently.

use std::sync::atomic::{AtomicU64, Ordering};

const ACCEPTS_MASK: u64 = (1 << 32) - 1;

/// Requests and accepts in one word.
#[inline]
const fn pack(requests: u32, accepts: u32) -> u64 {
    ((requests as u64) << 32) | accepts as u64
}

/// The window's counters.
#[derive(Debug)]
pub(crate) struct SlidingWindow {
    totals: AtomicU64,
    /// The bucket period the head bucket covers (`now / bucket_nanos`).
    head: AtomicU64,
    bucket_nanos: u64,
    buckets: Box<[AtomicU64]>,
}

/// Requests and accepts, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) accepts: u64,
}

impl SlidingWindow {
    /// A window of `buckets` buckets of `bucket_nanos` each.
    pub(crate) fn new(buckets: usize, bucket_nanos: u64) -> Self {
        assert!(buckets > 0 && bucket_nanos > 0, "an empty window");
        SlidingWindow {
            totals: AtomicU64::new(0),
            head: AtomicU64::new(0),
            bucket_nanos,
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The counts over the window as last moved.
    #[inline]
    pub(crate) fn counts(&self) -> Counts {
        let totals = self.totals.load(Ordering::Acquire);
        Counts {
            requests: totals >> 32,
            accepts: totals & ACCEPTS_MASK,
        }
    }

    /// Moves the window to `now`, clearing the buckets that fell out.
    /// `true` if this caller moved it.
    pub(crate) fn advance(&self, now: u64) -> bool {
        let period = now / self.bucket_nanos;
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if period <= head {
                return false;
            }
            match self
                .head
                .compare_exchange(head, period, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        let len = self.buckets.len() as u64;
        for step in 0..(period - head).min(len) {
            let bucket = &self.buckets[((period - step) % len) as usize];
            let stale = bucket.swap(0, Ordering::AcqRel);
            if stale != 0 {
                self.totals.fetch_sub(stale, Ordering::AcqRel);
            }
        }
        true
    }

    /// Records `requests` and `accepts` at `now`. `true` if this call
    /// moved the window.
    #[inline]
    pub(crate) fn record(&self, now: u64, requests: u32, accepts: u32) -> bool {
        let moved = self.advance(now);
        let packed = pack(requests, accepts);
        self.totals.fetch_add(packed, Ordering::AcqRel);
        let head = self.head.load(Ordering::Acquire);
        let bucket = &self.buckets[(head % self.buckets.len() as u64) as usize];
        bucket.fetch_add(packed, Ordering::AcqRel);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn counts(requests: u64, accepts: u64) -> Counts {
        Counts { requests, accepts }
    }

    #[test]
    fn counts_within_the_window() {
        let window = SlidingWindow::new(4, SEC);
        window.record(0, 1, 1);
        window.record(SEC / 2, 1, 0);
        window.record(3 * SEC, 1, 1);
        assert_eq!(window.counts(), counts(3, 2));
    }

    #[test]
    fn old_buckets_slide_out() {
        let window = SlidingWindow::new(4, SEC);
        window.record(0, 5, 0);
        window.record(SEC, 2, 2);
        window.advance(4 * SEC);
        assert_eq!(window.counts(), counts(2, 2), "bucket 0 expired");
        window.advance(5 * SEC);
        assert_eq!(window.counts(), counts(0, 0));
    }

    #[test]
    fn a_long_silence_clears_everything_once() {
        let window = SlidingWindow::new(4, SEC);
        for t in 0..4 {
            window.record(t * SEC, 3, 1);
        }
        assert!(window.advance(1_000 * SEC));
        assert!(!window.advance(1_000 * SEC));
        assert_eq!(window.counts(), counts(0, 0));
    }

    #[test]
    fn threads_keep_totals_equal_to_the_buckets() {
        let window = std::sync::Arc::new(SlidingWindow::new(8, 1_000));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let window = window.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        window.record(i * 7 + t, 1, (i % 2) as u32);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let sum: u64 = window
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        assert_eq!(window.totals.load(Ordering::Relaxed), sum);
    }
}
