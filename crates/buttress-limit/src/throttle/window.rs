//! Requests and accepts over a sliding, bucketed window: core's
//! [`SlidingWindow`](Window) with running totals.
//!
//! Each bucket packs requests (high 32 bits) and accepts (low 32 bits)
//! into one word, so a call is recorded with one `fetch_add` on the bucket
//! and one on the running totals, and reading the counts — what every
//! admission does — is one load; the window is never rescanned. The call
//! that first sees a newer bucket period moves the window and clears the
//! buckets that fell out, subtracting them from the totals (core's window
//! orders the two so that the totals never fall below the buckets' sum,
//! and neither half of the packed word borrows from the other).
//!
//! Time is passed in as ticks: no tokio, no lock, so a loom model can
//! exercise it alone (core's `tests/loom_window.rs`).

use buttress_core::window::SlidingWindow as Window;

const ACCEPTS_MASK: u64 = (1 << 32) - 1;

/// Requests and accepts in one word.
#[inline]
const fn pack(requests: u32, accepts: u32) -> u64 {
    ((requests as u64) << 32) | accepts as u64
}

/// The window's counters.
#[derive(Debug)]
pub(crate) struct SlidingWindow {
    window: Window<1>,
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
        let buckets = u32::try_from(buckets).unwrap_or(u32::MAX);
        SlidingWindow {
            window: Window::with_totals(bucket_nanos.saturating_mul(u64::from(buckets)), buckets),
        }
    }

    /// The counts over the window as last moved.
    #[inline]
    pub(crate) fn counts(&self) -> Counts {
        let [totals] = self.window.totals().unwrap_or_default();
        Counts {
            requests: totals >> 32,
            accepts: totals & ACCEPTS_MASK,
        }
    }

    /// Moves the window to `now`, clearing the buckets that fell out.
    /// `true` if this caller moved it.
    pub(crate) fn advance(&self, now: u64) -> bool {
        self.window.advance(now)
    }

    /// Records `requests` and `accepts` at `now`. `true` if this call
    /// moved the window.
    #[inline]
    pub(crate) fn record(&self, now: u64, requests: u32, accepts: u32) -> bool {
        self.window.record(0, now, [pack(requests, accepts)])
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
        let [sum] = window.window.sum(0);
        assert_eq!(window.window.totals(), Some([sum]));
    }
}
