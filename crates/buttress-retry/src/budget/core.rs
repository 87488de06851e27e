//! The budget's atomic core: request and retry counts over core's
//! [`SlidingWindow`], with no clock of its own.
//!
//! Time enters only as a tick count passed by the caller, so the core is
//! plain atomics and arithmetic: a loom model can drive it with made-up
//! ticks from several threads (`--cfg buttress_loom` swaps the atomics,
//! here through `crate::sync` and in core's window), and nothing here
//! knows about tokio.
//!
//! Each bucket of the window counts requests in one word and retries in
//! another; the window slides by itself as it is used, without a sweeper,
//! and counts that large never wrap.
//!
//! Requests whose time the caller does not know cheaply (no request
//! context carries a start instant) are counted in `pending` with one
//! `fetch_add`, and every 32nd asks the caller for the time to move the
//! batch into its bucket; a withdrawal moves any batch first. Reading the
//! clock once per 32 requests instead of once per request is most of the
//! budget's cost saved; the price is that up to 31 requests are dated to
//! the moment of the flush rather than their own.

use buttress_core::window::SlidingWindow;

use crate::sync::{AtomicU64, Ordering::Relaxed};

/// The counter words of a bucket.
const REQUESTS: usize = 0;
const RETRIES: usize = 1;

/// The most slots a window may have.
pub(crate) const MAX_SLOTS: usize = 1_000;

/// Undated requests are moved into the window in batches of this many.
pub(crate) const BATCH: u64 = 32;

/// A sliding-window retry budget over caller-supplied ticks.
///
/// Retries are allowed while the retries counted in the window stay below
/// `ratio × requests in the window + reserve`.
#[derive(Debug)]
pub(crate) struct BudgetCore {
    window: SlidingWindow<2>,
    ratio: f64,
    reserve: u64,
    pending: AtomicU64,
}

/// What the window holds at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) requests: u64,
    pub(crate) retries: u64,
    pub(crate) allowed: u64,
}

impl BudgetCore {
    /// A window of `slots` slots of `slot_ticks` ticks each (both at least
    /// one, `slots` at most [`MAX_SLOTS`]; clamped).
    pub(crate) fn new(slots: usize, slot_ticks: u64, ratio: f64, reserve: u64) -> Self {
        let slots = slots.clamp(1, MAX_SLOTS) as u64;
        let slot_ticks = slot_ticks.max(1);
        BudgetCore {
            // One lane: a withdrawal sums the window, and the requests of
            // one budget are not the call path's hot spot.
            window: SlidingWindow::new(slot_ticks.saturating_mul(slots), slots as u32, 1),
            ratio,
            reserve,
            pending: AtomicU64::new(0),
        }
    }

    /// Counts one request at tick `now`.
    pub(crate) fn deposit(&self, now: u64) {
        self.add(now, REQUESTS, 1);
    }

    /// Counts one request without its time; `true` when a batch is full
    /// and the caller should [`flush`](Self::flush) it with the time now.
    pub(crate) fn note(&self) -> bool {
        self.pending.fetch_add(1, Relaxed) % BATCH == BATCH - 1
    }

    /// Moves the undated requests into the slot of tick `now`.
    pub(crate) fn flush(&self, now: u64) {
        let pending = self.pending.swap(0, Relaxed);
        if pending > 0 {
            self.add(now, REQUESTS, pending);
        }
    }

    fn add(&self, now: u64, word: usize, count: u64) {
        if let Some(slot) = self.window.slot(0, now) {
            slot.add(word, count);
        }
    }

    /// The window's counts at tick `now`.
    pub(crate) fn window(&self, now: u64) -> Window {
        let [requests, retries] = self.window.sum(now);
        // Truncation is the point: a fraction of a retry is not a retry.
        let earned = (self.ratio * requests as f64) as u64;
        Window {
            requests,
            retries,
            allowed: earned.saturating_add(self.reserve),
        }
    }

    /// Takes one retry at tick `now` if the window allows it.
    ///
    /// Check and take are not one atomic step across slots: threads racing
    /// for the last retry may each take one, so the window can overshoot by
    /// at most the number of threads withdrawing at the same instant.
    pub(crate) fn withdraw(&self, now: u64) -> bool {
        self.flush(now);
        let window = self.window(now);
        if window.retries >= window.allowed {
            return false;
        }
        // A withdrawal dated before the window (a clock read a whole
        // window ago) is not counted, and not granted.
        let Some(slot) = self.window.slot(0, now) else {
            return false;
        };
        slot.add(RETRIES, 1);
        true
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    #[test]
    fn reserve_allows_retries_before_any_request() {
        let budget = BudgetCore::new(10, 100, 0.1, 3);
        assert!(budget.withdraw(0));
        assert!(budget.withdraw(0));
        assert!(budget.withdraw(0));
        assert!(!budget.withdraw(0));
    }

    #[test]
    fn ratio_of_requests_is_earned() {
        let budget = BudgetCore::new(10, 100, 0.1, 0);
        for _ in 0..100 {
            budget.deposit(5);
        }
        let taken = (0..100).filter(|_| budget.withdraw(5)).count();
        assert_eq!(taken, 10);
        assert_eq!(
            budget.window(5),
            Window {
                requests: 100,
                retries: 10,
                allowed: 10
            }
        );
    }

    #[test]
    fn window_slides_one_slot_at_a_time() {
        // Ten slots of 100 ticks: a 1,000-tick window.
        let budget = BudgetCore::new(10, 100, 1.0, 0);
        for _ in 0..50 {
            budget.deposit(0);
        }
        for _ in 0..30 {
            budget.deposit(500);
        }
        assert_eq!(budget.window(999).requests, 80);
        // Slot 0 (ticks 0..100) leaves the window when epoch 10 begins.
        assert_eq!(budget.window(1_000).requests, 30);
        assert_eq!(budget.window(1_499).requests, 30);
        assert_eq!(budget.window(1_500).requests, 0);
    }

    #[test]
    fn retries_age_out_with_their_slot() {
        let budget = BudgetCore::new(4, 10, 0.0, 1);
        assert!(budget.withdraw(0));
        assert!(!budget.withdraw(39));
        assert!(budget.withdraw(40));
    }

    #[test]
    fn idle_gap_longer_than_tag_range_does_not_alias() {
        let budget = BudgetCore::new(10, 1, 0.0, 0);
        for _ in 0..1_000 {
            budget.deposit(3);
        }
        // 65,536 epochs later slot 3 carries the same tag again.
        let later = 3 + (1 << 16);
        assert_eq!(budget.window(later).requests, 0);
        budget.deposit(later);
        assert_eq!(budget.window(later).requests, 1);
    }

    #[test]
    fn undated_requests_count_in_batches_and_before_withdrawals() {
        let budget = BudgetCore::new(10, 100, 1.0, 0);
        let full = (0..BATCH).filter(|_| budget.note()).count();
        assert_eq!(full, 1, "one flush asked per batch");
        assert_eq!(budget.window(0).requests, 0, "not flushed yet");
        budget.flush(0);
        assert_eq!(budget.window(0).requests, BATCH);
        budget.note();
        budget.note();
        assert!(budget.withdraw(50));
        assert_eq!(budget.window(50).requests, BATCH + 2);
    }

    #[test]
    fn counts_past_any_packed_field_neither_wrap_nor_grant_retries() {
        let budget = BudgetCore::new(1, 1, 0.0, 1 << 40);
        budget.add(0, REQUESTS, 1 << 40);
        budget.deposit(0);
        assert_eq!(budget.window(0).requests, (1 << 40) + 1);
        budget.add(0, RETRIES, 1 << 40);
        assert!(
            !budget.withdraw(0),
            "a spent reserve refuses, however large"
        );
        assert_eq!(budget.window(0).retries, 1 << 40);
    }

    #[test]
    fn concurrent_withdrawals_overshoot_by_at_most_the_thread_count() {
        let budget = std::sync::Arc::new(BudgetCore::new(10, 1_000, 0.0, 100));
        let threads = 4;
        let taken: usize = (0..threads)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..1_000).filter(|_| budget.withdraw(1)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert!((100..=100 + threads).contains(&taken), "{taken}");
    }
}
