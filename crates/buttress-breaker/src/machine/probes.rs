//! Half-open bookkeeping in one atomic word.
//!
//! Half-open admits at most `permitted_probes` calls and decides once their
//! outcomes are in. Admitted, completed, failed and slow probes live in one
//! `u64` with a tag of the half-open period they belong to, so that each
//! update is a single compare-and-swap and a probe from an earlier
//! half-open period (still in flight when the breaker re-opened and
//! half-opened again) cannot touch the new period's counts.

use crate::sync::{AtomicU64, Ordering};

const FIELD_BITS: u32 = 12;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const ADMITTED: u32 = 0;
const DONE: u32 = FIELD_BITS;
const FAILED: u32 = 2 * FIELD_BITS;
const SLOW: u32 = 3 * FIELD_BITS;
const TAG: u32 = 4 * FIELD_BITS;

/// The most probes a half-open period may permit (fits a field).
pub(crate) const MAX_PROBES: u32 = 1_000;

/// The tag of the half-open period of `generation`.
pub(crate) const fn tag(generation: u64) -> u64 {
    generation & ((1 << (64 - TAG)) - 1)
}

/// The word of a fresh half-open period.
pub(crate) const fn fresh(tag: u64) -> u64 {
    tag << TAG
}

const fn field(word: u64, shift: u32) -> u64 {
    (word >> shift) & FIELD_MASK
}

/// Probes admitted and not yet completed.
pub(crate) const fn in_flight(word: u64) -> u64 {
    field(word, ADMITTED) - field(word, DONE)
}

/// Why a probe was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every permitted probe is taken.
    Full,
    /// The word belongs to another period: reload the state.
    Stale,
}

/// What a completed probe decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// More probes are awaited.
    Pending,
    /// Every probe completed under the thresholds.
    Close,
    /// The failure or slow rate crossed its threshold.
    Reopen,
    /// The probe belongs to an earlier period.
    Stale,
}

/// Takes a probe slot of the period tagged `tag`.
pub(crate) fn try_admit(probes: &AtomicU64, tag: u64, permitted: u32) -> Result<(), Refusal> {
    let mut word = probes.load(Ordering::Acquire);
    loop {
        if word >> TAG != tag {
            return Err(Refusal::Stale);
        }
        if field(word, ADMITTED) >= u64::from(permitted) {
            return Err(Refusal::Full);
        }
        match probes.compare_exchange_weak(word, word + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(actual) => word = actual,
        }
    }
}

/// Gives back the slot of a probe that was dropped, panicked or ended
/// without reaching the dependency.
pub(crate) fn release(probes: &AtomicU64, tag: u64) {
    let mut word = probes.load(Ordering::Acquire);
    loop {
        if word >> TAG != tag || in_flight(word) == 0 {
            return;
        }
        match probes.compare_exchange_weak(word, word - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(actual) => word = actual,
        }
    }
}

/// Records a probe's outcome and decides with `crossed(failed, slow,
/// permitted)`, which says whether those counts reach a threshold.
pub(crate) fn complete(
    probes: &AtomicU64,
    tag: u64,
    failed: bool,
    slow: bool,
    permitted: u32,
    crossed: impl Fn(u64, u64, u64) -> bool,
) -> Decision {
    let delta = (1 << DONE) | (u64::from(failed) << FAILED) | (u64::from(slow) << SLOW);
    let mut word = probes.load(Ordering::Acquire);
    let next = loop {
        if word >> TAG != tag || in_flight(word) == 0 {
            return Decision::Stale;
        }
        match probes.compare_exchange_weak(word, word + delta, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break word + delta,
            Err(actual) => word = actual,
        }
    };
    let permitted = u64::from(permitted);
    // Rates are over every permitted probe, so a rate that has already
    // crossed cannot be brought back under by the probes still to come.
    if crossed(field(next, FAILED), field(next, SLOW), permitted) {
        Decision::Reopen
    } else if field(next, DONE) >= permitted {
        Decision::Close
    } else {
        Decision::Pending
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    fn half(failed: u64, _slow: u64, of: u64) -> bool {
        failed * 2 >= of
    }

    #[test]
    fn admits_exactly_the_permitted_number() {
        let probes = AtomicU64::new(fresh(3));
        assert_eq!(try_admit(&probes, 3, 2), Ok(()));
        assert_eq!(try_admit(&probes, 3, 2), Ok(()));
        assert_eq!(try_admit(&probes, 3, 2), Err(Refusal::Full));
        assert_eq!(try_admit(&probes, 4, 2), Err(Refusal::Stale));
    }

    #[test]
    fn a_released_slot_can_be_taken_again() {
        let probes = AtomicU64::new(fresh(1));
        try_admit(&probes, 1, 1).unwrap();
        release(&probes, 1);
        assert_eq!(try_admit(&probes, 1, 1), Ok(()));
    }

    #[test]
    fn closes_when_all_complete_and_reopens_once_crossed() {
        let probes = AtomicU64::new(fresh(0));
        for _ in 0..4 {
            try_admit(&probes, 0, 4).unwrap();
        }
        assert_eq!(
            complete(&probes, 0, false, false, 4, half),
            Decision::Pending
        );
        assert_eq!(
            complete(&probes, 0, true, false, 4, half),
            Decision::Pending
        );
        assert_eq!(
            complete(&probes, 0, false, false, 4, half),
            Decision::Pending
        );
        assert_eq!(complete(&probes, 0, false, false, 4, half), Decision::Close);

        let probes = AtomicU64::new(fresh(0));
        for _ in 0..4 {
            try_admit(&probes, 0, 4).unwrap();
        }
        assert_eq!(
            complete(&probes, 0, true, false, 4, half),
            Decision::Pending
        );
        assert_eq!(complete(&probes, 0, true, false, 4, half), Decision::Reopen);
    }

    #[test]
    fn outcomes_of_another_period_are_stale() {
        let probes = AtomicU64::new(fresh(9));
        try_admit(&probes, 9, 1).unwrap();
        assert_eq!(complete(&probes, 8, true, false, 1, half), Decision::Stale);
        release(&probes, 8);
        assert_eq!(in_flight(probes.load(Ordering::Relaxed)), 1);
    }
}
