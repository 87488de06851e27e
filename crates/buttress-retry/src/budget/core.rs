//! The budget's atomic core: a sliding window of request and retry counts
//! in a ring of packed `AtomicU64` slots, with no clock of its own.
//!
//! Time enters only as a tick count passed by the caller, so the core is
//! plain atomics and arithmetic: a loom model can drive it with made-up
//! ticks from several threads (`--cfg buttress_loom` swaps the atomics, see `crate::sync`),
//! and nothing here knows about tokio.
//!
//! Each slot covers `slot_ticks` ticks and packs three fields into one
//! word, so a slot is always read and rotated as a whole:
//!
//! ```text
//!  63        48 47                   20 19                 0
//! +------------+-----------------------+--------------------+
//! | epoch tag  | requests (28 bits)    | retries (20 bits)  |
//! +------------+-----------------------+--------------------+
//! ```
//!
//! The tag is the slot's epoch (tick / `slot_ticks`) modulo 2^16; a slot
//! counts toward the window while its epoch is among the last `slots`
//! epochs. A deposit into a slot whose tag is stale starts it afresh, so
//! the window slides without any sweeper. After an idle gap longer than the
//! window every slot is cleared, so a tag cannot alias an epoch
//! 65,536 slots later. Counters saturate instead of overflowing into the
//! tag; a saturated retry counter refuses further retries (the safe side).
//!
//! Requests whose time the caller does not know cheaply (no request
//! context carries a start instant) are counted in `pending` with one
//! `fetch_add`, and every 32nd asks the caller for the time to move the
//! batch into its slot; a withdrawal moves any batch first. Reading the
//! clock once per 32 requests instead of once per request is most of the
//! budget's cost saved; the price is that up to 31 requests are dated to
//! the moment of the flush rather than their own.

use crate::sync::{AtomicU64, Ordering::Relaxed};

const RETRY_BITS: u32 = 20;
const REQUEST_BITS: u32 = 28;
const TAG_SHIFT: u32 = RETRY_BITS + REQUEST_BITS;
const RETRY_MAX: u64 = (1 << RETRY_BITS) - 1;
const REQUEST_MAX: u64 = (1 << REQUEST_BITS) - 1;
const TAG_MASK: u64 = 0xFFFF;

/// The most slots a window may have.
pub(crate) const MAX_SLOTS: usize = 1_000;

/// Undated requests are moved into the window in batches of this many.
pub(crate) const BATCH: u64 = 32;

fn tag(word: u64) -> u64 {
    word >> TAG_SHIFT
}

fn requests(word: u64) -> u64 {
    (word >> RETRY_BITS) & REQUEST_MAX
}

fn retries(word: u64) -> u64 {
    word & RETRY_MAX
}

fn pack(tag: u64, requests: u64, retries: u64) -> u64 {
    ((tag & TAG_MASK) << TAG_SHIFT) | (requests << RETRY_BITS) | retries
}

/// A sliding-window retry budget over caller-supplied ticks.
///
/// Retries are allowed while the retries counted in the window stay below
/// `ratio × requests in the window + reserve`.
#[derive(Debug)]
pub(crate) struct BudgetCore {
    slots: Box<[AtomicU64]>,
    slot_ticks: u64,
    ratio: f64,
    reserve: u64,
    latest: AtomicU64,
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
    /// one, `slots` at most [`MAX_SLOTS`]).
    pub(crate) fn new(slots: usize, slot_ticks: u64, ratio: f64, reserve: u64) -> Self {
        assert!((1..=MAX_SLOTS).contains(&slots) && slot_ticks >= 1);
        BudgetCore {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            slot_ticks,
            ratio,
            reserve,
            latest: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    fn epoch(&self, now: u64) -> u64 {
        let epoch = now / self.slot_ticks;
        let latest = self.latest.load(Relaxed);
        if epoch > latest
            && self
                .latest
                .compare_exchange(latest, epoch, Relaxed, Relaxed)
                .is_ok()
            && epoch - latest >= self.slots.len() as u64
        {
            self.clear_stale();
        }
        epoch
    }

    /// After an idle gap longer than the window every slot is stale;
    /// clearing them keeps old tags from aliasing new epochs. A deposit
    /// racing with the clear in the new epoch may be lost: a miscount of
    /// one, once per idle gap.
    fn clear_stale(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Relaxed);
        }
    }

    fn slot(&self, epoch: u64) -> &AtomicU64 {
        &self.slots[(epoch % self.slots.len() as u64) as usize]
    }

    /// Counts one request at tick `now`.
    pub(crate) fn deposit(&self, now: u64) {
        self.add_requests(now, 1);
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
            self.add_requests(now, pending);
        }
    }

    fn add_requests(&self, now: u64, count: u64) {
        let epoch = self.epoch(now);
        let current = epoch & TAG_MASK;
        let slot = self.slot(epoch);
        let mut word = slot.load(Relaxed);
        loop {
            let next = if tag(word) == current {
                if requests(word) == REQUEST_MAX {
                    return;
                }
                let added = count.min(REQUEST_MAX - requests(word));
                word + (added << RETRY_BITS)
            } else {
                pack(current, count.min(REQUEST_MAX), 0)
            };
            match slot.compare_exchange_weak(word, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// The window's counts at tick `now`.
    pub(crate) fn window(&self, now: u64) -> Window {
        let epoch = self.epoch(now);
        let current = epoch & TAG_MASK;
        let span = self.slots.len() as u64;
        let (mut requests_in, mut retries_in) = (0, 0);
        for slot in self.slots.iter() {
            let word = slot.load(Relaxed);
            let age = current.wrapping_sub(tag(word)) & TAG_MASK;
            if age < span {
                requests_in += requests(word);
                retries_in += retries(word);
            }
        }
        // Truncation is the point: a fraction of a retry is not a retry.
        let earned = (self.ratio * requests_in as f64) as u64;
        Window {
            requests: requests_in,
            retries: retries_in,
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
        let epoch = now / self.slot_ticks;
        let current = epoch & TAG_MASK;
        let slot = self.slot(epoch);
        let mut word = slot.load(Relaxed);
        loop {
            let next = if tag(word) == current {
                if retries(word) == RETRY_MAX {
                    return false;
                }
                word + 1
            } else {
                pack(current, 0, 1)
            };
            match slot.compare_exchange_weak(word, next, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let word = pack(0xABCD, REQUEST_MAX, RETRY_MAX);
        assert_eq!(tag(word), 0xABCD);
        assert_eq!(requests(word), REQUEST_MAX);
        assert_eq!(retries(word), RETRY_MAX);
        assert_eq!(pack(0x1_0001, 3, 4), pack(1, 3, 4));
    }

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
    fn counters_saturate() {
        let budget = BudgetCore::new(1, 1, 0.0, u64::MAX);
        budget.slots[0].store(pack(0, REQUEST_MAX, RETRY_MAX), Relaxed);
        budget.deposit(0);
        assert_eq!(requests(budget.slots[0].load(Relaxed)), REQUEST_MAX);
        assert!(!budget.withdraw(0));
        assert_eq!(retries(budget.slots[0].load(Relaxed)), RETRY_MAX);
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
