//! The generic cell rate algorithm on one atomic per key.
//!
//! A key's whole state is its *theoretical arrival time* (TAT): the
//! instant at which its bucket would be full again, in core's
//! [`ticks`](buttress_core::clock::ticks) (nanoseconds since the
//! process-wide epoch). A request costing `n` units is admitted when
//! `max(tat, now) + n·T ≤ now + burst·T` (`T` the emission interval,
//! `period / limit`), and admitting it moves the TAT there with one
//! compare-and-swap. A TAT at or before now is a full bucket: the state is
//! neutral, and the keyed map may evict it — once the key's keep-idle
//! time has passed too, for a key seen more than once (see [`Cell`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock::{nanos, ticks};
use buttress_core::keyed::KeyedState;
use tokio::time::Instant;

/// One quota in nanoseconds: what a [`Cell`] is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Nanoseconds one unit of quota takes to come back (`T`).
    pub(crate) interval: u64,
    /// Nanoseconds of credit a full bucket holds (`burst · T`).
    pub(crate) capacity: u64,
}

impl Rate {
    /// `limit` units per `period`, at most `burst` at once. The caller
    /// has validated `1 ≤ limit ≤ period in ns` and `burst ≥ 1`.
    pub(crate) fn new(limit: u32, period: Duration, burst: u32) -> Self {
        let interval = (nanos(period) / u64::from(limit.max(1))).max(1);
        Rate {
            interval,
            capacity: interval.saturating_mul(u64::from(burst.max(1))),
        }
    }

    /// Whole units of credit in `credit` nanoseconds.
    fn units(&self, credit: u64) -> u64 {
        credit / self.interval
    }
}

/// What checking a request against a cell decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; the quota is spent.
    Admitted,
    /// Over quota: admissible after `wait` (never, if `wait` is `None`:
    /// the request costs more than a full bucket).
    Limited {
        /// The wait until this request would be admitted.
        wait: Option<Duration>,
        /// Whole units the caller may still spend now.
        remaining: u64,
        /// The wait until the bucket is full again.
        reset: Duration,
    },
}

/// One key's rate state: its theoretical arrival time, in ticks, and how
/// long past it the key keeps its slot in the keyed map.
///
/// A key seen once — all a caller inventing a key per request ever
/// sends — is neutral as soon as its bucket is full again, and makes room
/// first. A key seen again is a caller that came back; evicting it would
/// not be neutral, since it would then have to pass the layer's new-key
/// quota like a stranger. It stays `keep` nanoseconds past its TAT (the
/// layer's `keep_idle`), so that a flood of invented keys cannot push out
/// the callers that were there before it.
#[derive(Debug)]
pub(crate) struct Cell {
    tat: AtomicU64,
    /// 0 until the key is seen a second time, then `keep_idle`.
    keep: AtomicU64,
}

impl Cell {
    /// A full bucket, for a key seen once.
    pub(crate) fn new() -> Self {
        Cell {
            tat: AtomicU64::new(0),
            keep: AtomicU64::new(0),
        }
    }

    /// Notes that the key came back: it keeps its slot for `keep`
    /// nanoseconds past a full bucket. Writes only the first time, so a
    /// hot key's cache line is not written again for it.
    #[inline]
    pub(crate) fn seen_again(&self, keep: u64) {
        if self.keep.load(Ordering::Relaxed) != keep {
            self.keep.store(keep, Ordering::Relaxed);
        }
    }

    /// Checks `cost` units at `now` (in ticks), and spends them when
    /// admitted.
    #[inline]
    pub(crate) fn check(&self, rate: Rate, now: u64, cost: u32) -> Decision {
        let increment = u64::from(cost).saturating_mul(rate.interval);
        let limit = now.saturating_add(rate.capacity);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let base = tat.max(now);
            let next = base.saturating_add(increment);
            if next > limit {
                return Self::limited(rate, now, base, increment);
            }
            if cost == 0 {
                return Decision::Admitted;
            }
            // Relaxed is enough: the TAT is the only datum, and the CAS on
            // it orders every decision for this key.
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Decision::Admitted,
                Err(current) => tat = current,
            }
        }
    }

    #[cold]
    fn limited(rate: Rate, now: u64, base: u64, increment: u64) -> Decision {
        let credit = now.saturating_add(rate.capacity).saturating_sub(base);
        let wait = (increment <= rate.capacity)
            .then(|| Duration::from_nanos(base.saturating_add(increment) - now - rate.capacity));
        Decision::Limited {
            wait,
            remaining: rate.units(credit),
            reset: Duration::from_nanos(base - now),
        }
    }

    /// Whole units the caller may spend at `now`.
    #[cfg(test)]
    pub(crate) fn remaining(&self, rate: Rate, now: u64) -> u64 {
        let base = self.tat.load(Ordering::Relaxed).max(now);
        rate.units(now.saturating_add(rate.capacity).saturating_sub(base))
    }
}

impl KeyedState for Cell {
    fn is_neutral(&self, now: Instant) -> bool {
        let tat = self.tat.load(Ordering::Relaxed);
        tat.saturating_add(self.keep.load(Ordering::Relaxed)) <= ticks(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ten_per_second_burst_five() -> Rate {
        Rate::new(10, Duration::from_secs(1), 5)
    }

    #[test]
    fn a_full_bucket_admits_burst_then_one_per_interval() {
        let rate = ten_per_second_burst_five();
        let cell = Cell::new();
        let now = 1_000 * MS;
        for _ in 0..5 {
            assert_eq!(cell.check(rate, now, 1), Decision::Admitted);
        }
        assert_eq!(
            cell.check(rate, now, 1),
            Decision::Limited {
                wait: Some(Duration::from_millis(100)),
                remaining: 0,
                reset: Duration::from_millis(500),
            }
        );
        assert!(!cell.check(rate, now + 99 * MS, 1).is_admitted());
        assert!(cell.check(rate, now + 100 * MS, 1).is_admitted());
        assert!(!cell.check(rate, now + 100 * MS, 1).is_admitted());
    }

    #[test]
    fn cost_spends_several_units_and_too_costly_never_passes() {
        let rate = ten_per_second_burst_five();
        let cell = Cell::new();
        assert!(cell.check(rate, 0, 3).is_admitted());
        assert_eq!(cell.remaining(rate, 0), 2);
        assert_eq!(
            cell.check(rate, 0, 3),
            Decision::Limited {
                wait: Some(Duration::from_millis(100)),
                remaining: 2,
                reset: Duration::from_millis(300),
            }
        );
        match cell.check(rate, 0, 6) {
            Decision::Limited { wait, .. } => assert_eq!(wait, None),
            Decision::Admitted => panic!("six units never fit a bucket of five"),
        }
        // Free requests pass and spend nothing.
        assert!(cell.check(rate, 0, 0).is_admitted());
        assert_eq!(cell.remaining(rate, 0), 2);
    }

    #[test]
    fn neutral_once_refilled() {
        let now = Instant::now();
        let rate = ten_per_second_burst_five();
        let cell = Cell::new();
        assert!(cell.is_neutral(now));
        assert!(cell.check(rate, ticks(now), 1).is_admitted());
        assert!(!cell.is_neutral(now));
        assert!(cell.is_neutral(now + Duration::from_secs(1)));
    }

    #[test]
    fn a_key_seen_again_stays_its_keep_time_past_a_full_bucket() {
        let now = Instant::now();
        let rate = ten_per_second_burst_five();
        let cell = Cell::new();
        assert!(cell.check(rate, ticks(now), 1).is_admitted());
        cell.seen_again(60_000 * MS);
        assert!(cell.check(rate, ticks(now), 1).is_admitted());
        // Full again 200 ms on, but kept for another minute.
        assert!(!cell.is_neutral(now + Duration::from_millis(200)));
        assert!(!cell.is_neutral(now + Duration::from_secs(60)));
        assert!(cell.is_neutral(now + Duration::from_millis(60_200)));
    }

    impl Decision {
        fn is_admitted(&self) -> bool {
            matches!(self, Decision::Admitted)
        }
    }
}
