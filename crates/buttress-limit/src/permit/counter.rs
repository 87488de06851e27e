//! The atomic core of permit accounting.
//!
//! Three counters and nothing else: how many permits are out, how many
//! may be, and how many callers are queued. It uses std atomics only — no
//! tokio, no lock — so that a loom model can exercise it on its own.
//!
//! The protocol between a releaser and a caller about to queue is the
//! classic store-then-load handshake (all `SeqCst`):
//!
//! - the releaser decrements `in_flight`, then loads `waiting`;
//! - the queuer (under the queue lock) increments `waiting`, then retries
//!   the acquisition, which loads `in_flight`.
//!
//! In any total order one of the two sees the other's write: either the
//! queuer finds the freed permit, or the releaser sees a waiter and goes to
//! the queue lock to hand the permit over. No wake-up is lost.

use super::sync::{AtomicUsize, Ordering};

/// Permits out, the limit, and callers queued.
///
/// Aligned to 128 bytes (two cache lines, the unit adjacent-line
/// prefetchers move), so that these words — written by every call from
/// every thread — share their line with nothing else: not the reference
/// count of the `Arc` the pool lives in (bumped by each permit), not the
/// queue's lock.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct PermitCounter {
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    waiting: AtomicUsize,
}

impl PermitCounter {
    /// A counter allowing `limit` permits at once.
    pub(crate) fn new(limit: usize) -> Self {
        PermitCounter {
            in_flight: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Takes a permit unless none is free or someone is queued (a newcomer
    /// must not overtake the queue). The lock-free fast path.
    #[inline]
    pub(crate) fn try_acquire_uncontended(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) == 0 && self.try_acquire()
    }

    /// Takes a permit if one is free, whoever is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // SeqCst, not Relaxed: with `set_limit`'s swap-then-load of
        // `waiting` this is the store-buffering handshake — a caller that
        // has just registered as a waiter either sees a raised limit here or
        // the raiser sees it waiting and wakes it (a loom finding). On x86
        // a SeqCst load is the same plain load.
        let limit = self.limit.load(Ordering::SeqCst);
        let mut current = self.in_flight.load(Ordering::SeqCst);
        loop {
            if current >= limit {
                return false;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Returns a permit. `true` when callers are queued and one of them
    /// should be handed the freed capacity.
    #[inline]
    pub(crate) fn release(&self) -> bool {
        let before = self.in_flight.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before > 0, "released more permits than acquired");
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Sets the limit. `true` when it grew while callers are queued.
    pub(crate) fn set_limit(&self, limit: usize) -> bool {
        let before = self.limit.swap(limit, Ordering::SeqCst);
        limit > before && self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Records one more queued caller (before retrying the acquisition).
    pub(crate) fn add_waiter(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
    }

    /// Records one queued caller fewer.
    pub(crate) fn remove_waiter(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Permits out now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Callers queued now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_the_limit() {
        let counter = PermitCounter::new(2);
        assert!(counter.try_acquire_uncontended());
        assert!(counter.try_acquire_uncontended());
        assert!(!counter.try_acquire_uncontended());
        assert!(!counter.release());
        assert!(counter.try_acquire());
        assert_eq!(counter.in_flight(), 2);
    }

    #[test]
    fn queued_callers_block_the_fast_path_not_the_handoff() {
        let counter = PermitCounter::new(1);
        counter.add_waiter();
        assert!(!counter.try_acquire_uncontended());
        assert!(counter.try_acquire());
        assert!(counter.release(), "a releaser must see the waiter");
    }

    #[test]
    fn growing_the_limit_reports_waiters() {
        let counter = PermitCounter::new(1);
        assert!(!counter.set_limit(2));
        counter.add_waiter();
        assert!(counter.set_limit(3));
        assert!(!counter.set_limit(1));
        assert_eq!(counter.limit(), 1);
        assert_eq!(counter.waiting(), 1);
    }

    #[test]
    fn concurrent_threads_keep_the_count() {
        let counter = std::sync::Arc::new(PermitCounter::new(4));
        let peak = std::sync::Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                let peak = peak.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if counter.try_acquire_uncontended() {
                            peak.fetch_max(counter.in_flight(), Ordering::Relaxed);
                            counter.release();
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.in_flight(), 0);
        assert!(peak.load(Ordering::Relaxed) <= 4);
    }
}
