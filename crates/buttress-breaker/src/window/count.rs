//! The count window: exactly the last N calls.
//!
//! A ring of N one-byte slots holds each call's outcome; running totals of
//! calls, failures and slow calls are packed in one word. Recording a call
//! takes the next slot (one shared index), swaps its outcome in, and adds
//! the difference between the new and the overwritten outcome to the
//! totals in a single `fetch_add` — so the totals always describe exactly
//! the last N recorded calls, without rescanning them.
//!
//! Cost, for the call path: the index wraps at N with a compare-and-swap
//! rather than a free-running counter taken modulo N (a 64-bit division
//! per call). And in the steady state of a healthy dependency — a success
//! overwriting a success — the slot already holds the new outcome: a plain
//! load sees that, and neither the slot nor the totals are written, so
//! the index is the only shared write of the call.
//!
//! Under concurrent completion, two calls racing for slots a full ring
//! apart can leave a total off by one for an instant; it corrects itself
//! with the next update.

use crate::sync::{AtomicU8, AtomicU64, Ordering};

use super::Totals;

/// The largest count window: each total has 21 bits in the packed word.
pub(crate) const MAX_SIZE: u32 = 1_000_000;

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const FAILURES: u32 = FIELD_BITS;
const SLOW: u32 = 2 * FIELD_BITS;

const RECORDED: u8 = 1;
const FAILED: u8 = 2;
const SLOWED: u8 = 4;

/// The shared index and totals, on one cache line of their own.
#[derive(Debug)]
#[repr(align(128))]
struct Head {
    next: AtomicU64,
    totals: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    head: Head,
    slots: Box<[AtomicU8]>,
}

/// The packed contribution of one slot's outcome to the totals.
const fn weight(code: u8) -> u64 {
    (code & RECORDED) as u64
        | (((code & FAILED) >> 1) as u64) << FAILURES
        | (((code & SLOWED) >> 2) as u64) << SLOW
}

const fn unpack(packed: u64) -> Totals {
    Totals {
        calls: packed & FIELD_MASK,
        failures: (packed >> FAILURES) & FIELD_MASK,
        slow: (packed >> SLOW) & FIELD_MASK,
    }
}

impl CountWindow {
    /// A window over the last `size` calls (1 to [`MAX_SIZE`]).
    pub(crate) fn new(size: u32) -> Self {
        CountWindow {
            head: Head {
                next: AtomicU64::new(0),
                totals: AtomicU64::new(0),
            },
            slots: (0..size.max(1)).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool) -> Totals {
        let code = RECORDED | (u8::from(failed) << 1) | (u8::from(slow) << 2);
        let slot = &self.slots[self.next_index()];
        // Overwriting an outcome with the same outcome changes nothing:
        // skip both writes. Sound under a race with a call a full ring
        // ahead on the same slot: the skipped write is a no-op ordered
        // before that call's swap, which then accounts from `code`.
        let old = match slot.load(Ordering::Relaxed) {
            same if same == code => same,
            _ => slot.swap(code, Ordering::Relaxed),
        };
        if old == code {
            return unpack(self.head.totals.load(Ordering::Acquire));
        }
        // Wrapping arithmetic on the packed word adds and subtracts each
        // field at once; no field leaves its range once both updates land.
        let delta = weight(code).wrapping_sub(weight(old));
        let packed = self
            .head
            .totals
            .fetch_add(delta, Ordering::AcqRel)
            .wrapping_add(delta);
        unpack(packed)
    }

    /// Takes the next slot of the ring. The index stays below N, wrapping
    /// with a compare-and-swap: no division on the call path.
    #[inline]
    fn next_index(&self) -> usize {
        let size = self.slots.len() as u64;
        let mut current = self.head.next.load(Ordering::Relaxed);
        loop {
            let next = if current + 1 >= size { 0 } else { current + 1 };
            match self.head.next.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                // `current` is below N: written only by this loop and by
                // `reset` (0); `min` keeps the bound check trivially true.
                Ok(_) => return (current as usize).min(self.slots.len() - 1),
                Err(actual) => current = actual,
            }
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        unpack(self.head.totals.load(Ordering::Acquire))
    }

    pub(crate) fn reset(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Ordering::Relaxed);
        }
        self.head.next.store(0, Ordering::Relaxed);
        self.head.totals.store(0, Ordering::Release);
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_last_n_calls() {
        let window = CountWindow::new(4);
        for _ in 0..3 {
            window.record(true, true);
        }
        assert_eq!(
            window.totals(),
            Totals {
                calls: 3,
                failures: 3,
                slow: 3
            }
        );
        for _ in 0..3 {
            window.record(false, false);
        }
        // Last four: one failure (slow) and three successes.
        assert_eq!(
            window.totals(),
            Totals {
                calls: 4,
                failures: 1,
                slow: 1
            }
        );
        window.record(false, false);
        assert_eq!(window.totals().failures, 0);
        window.reset();
        assert_eq!(window.totals(), Totals::default());
    }

    #[test]
    fn totals_match_a_rescan_after_many_wraps() {
        let window = CountWindow::new(7);
        let mut seen = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..1_000 {
            let (failed, slow) = (rng.bool(), rng.u8(..4) == 0);
            seen.push((failed, slow));
            let totals = window.record(failed, slow);
            let last = &seen[seen.len().saturating_sub(7)..];
            assert_eq!(totals.calls, last.len() as u64);
            assert_eq!(
                totals.failures,
                last.iter().filter(|(f, _)| *f).count() as u64
            );
            assert_eq!(totals.slow, last.iter().filter(|(_, s)| *s).count() as u64);
        }
    }
}
