//! One key's lease: the permits this replica holds from Redis, what Redis
//! last said, and the key's local share for the moments Redis cannot
//! answer in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock::ticks;
use buttress_core::keyed::KeyedState;
use tokio::time::Instant;

use crate::rate::gcra::Cell;

/// One key's distributed state on this replica.
pub(crate) struct Lease {
    /// The Redis key: `<prefix><name>:<class>:<key>`.
    pub(crate) key: Box<[u8]>,
    /// The key's class (0: `default`).
    pub(crate) class: usize,
    /// Permits leased and not yet spent. Redis has charged them already.
    permits: AtomicU64,
    /// Ticks before which the permits may not be spent: Redis leased them
    /// a little ahead of when they conform (they are spent from then on).
    valid_from: AtomicU64,
    /// Ticks before which a request the permits do not cover is refused
    /// without asking Redis: Redis said the key had no more before then.
    denied_until: AtomicU64,
    /// Ticks at which the key's bucket in Redis is full again, as of the
    /// last answer (the `RateLimit` reset figure).
    full_at: AtomicU64,
    /// Units admitted on the local share while an answer was pending,
    /// charged to Redis with the next call.
    debt: AtomicU64,
    /// A refill is out (or waiting to go out) for this key.
    refilling: AtomicBool,
    /// A request was refused on Redis' last answer since it came: the key
    /// is still wanted when that answer's wait ends.
    wanted: AtomicBool,
    /// The key's share of the quota (`1 / replicas`), decided locally
    /// while Redis is down or an answer is pending.
    pub(crate) local: Cell,
}

/// What taking permits from a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Taken; this many are left.
    Taken(u64),
    /// Not enough: this many are held.
    Short(u64),
}

impl Lease {
    pub(crate) fn new(key: Box<[u8]>, class: usize) -> Self {
        Lease {
            key,
            class,
            permits: AtomicU64::new(0),
            valid_from: AtomicU64::new(0),
            denied_until: AtomicU64::new(0),
            full_at: AtomicU64::new(0),
            debt: AtomicU64::new(0),
            refilling: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
            local: Cell::new(),
        }
    }

    /// Takes `cost` leased permits, if held. One load and one
    /// compare-and-swap on the hot path.
    #[inline]
    pub(crate) fn take(&self, cost: u32) -> Take {
        let cost = u64::from(cost);
        let mut held = self.permits.load(Ordering::Relaxed);
        loop {
            if held < cost {
                return Take::Short(held);
            }
            match self.permits.compare_exchange_weak(
                held,
                held - cost,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Take::Taken(held - cost),
                Err(now) => held = now,
            }
        }
    }

    /// Permits held now.
    pub(crate) fn held(&self) -> u64 {
        self.permits.load(Ordering::Relaxed)
    }

    /// Whether the permits may be spent at `now`.
    #[inline]
    pub(crate) fn valid(&self, now: u64) -> bool {
        self.valid_from.load(Ordering::Relaxed) <= now
    }

    /// While Redis' last answer still refuses a request the permits do
    /// not cover: how long it does.
    #[inline]
    pub(crate) fn denied_for(&self, now: u64) -> Option<Duration> {
        let valid_from = self.valid_from.load(Ordering::Relaxed);
        let until = if valid_from > now {
            valid_from
        } else {
            self.denied_until.load(Ordering::Relaxed)
        };
        (until > now).then(|| Duration::from_nanos(until - now))
    }

    /// Notes a request refused on Redis' last answer.
    pub(crate) fn want(&self) {
        if !self.wanted.load(Ordering::Relaxed) {
            self.wanted.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the note of [`want`](Self::want).
    pub(crate) fn take_wanted(&self) -> bool {
        self.wanted.swap(false, Ordering::Relaxed)
    }

    /// The time until the key's bucket is full again, as last known.
    pub(crate) fn reset(&self, now: u64) -> Duration {
        Duration::from_nanos(self.full_at.load(Ordering::Relaxed).saturating_sub(now))
    }

    /// Records `cost` units admitted on the local share, to charge.
    pub(crate) fn owe(&self, cost: u32) {
        self.debt.fetch_add(u64::from(cost), Ordering::Relaxed);
    }

    /// Whether anything is owed.
    pub(crate) fn owes(&self) -> bool {
        self.debt.load(Ordering::Relaxed) != 0
    }

    /// Takes what is owed, for the call about to go out.
    pub(crate) fn take_debt(&self) -> u64 {
        self.debt.swap(0, Ordering::Relaxed)
    }

    /// Claims the key's refill; false if one is out already.
    pub(crate) fn claim_refill(&self) -> bool {
        !self.refilling.load(Ordering::Relaxed)
            && self
                .refilling
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Whether a refill is out.
    pub(crate) fn is_refilling(&self) -> bool {
        self.refilling.load(Ordering::Relaxed)
    }

    /// Ends the key's refill.
    pub(crate) fn end_refill(&self) {
        self.refilling.store(false, Ordering::Release);
    }

    /// Applies Redis' answer, received at `now` (ticks).
    pub(crate) fn apply(
        &self,
        now: u64,
        granted: u64,
        valid_after: Duration,
        wait: Duration,
        reset: Duration,
    ) {
        let at = |after: Duration| now.saturating_add(buttress_core::clock::nanos(after));
        self.full_at.store(at(reset), Ordering::Relaxed);
        if granted > 0 && self.permits.load(Ordering::Relaxed) == 0 {
            // Granted ahead of when they conform: held until then. (With
            // permits still held, they are spent early: the lease bound
            // covers that.)
            self.valid_from.store(at(valid_after), Ordering::Relaxed);
        }
        self.permits.fetch_add(granted, Ordering::Relaxed);
        // Once these permits are spent, Redis has no more before `wait`:
        // refuse until then without asking.
        self.denied_until.store(at(wait), Ordering::Relaxed);
    }
}

/// A lease in the keyed map; the map's value, shared with a refill in
/// flight for it.
pub(crate) struct SharedLease(pub(crate) Arc<Lease>);

impl KeyedState for SharedLease {
    /// Neutral when evicting it loses nothing Redis needs to hear: no
    /// debt to charge, no refill out, no refusal in force, and the local
    /// share full (with its keep-idle time for a returning key). Leased
    /// permits it still holds are simply not spent: the fleet admits
    /// less, never more.
    fn is_neutral(&self, now: Instant) -> bool {
        let lease = &self.0;
        !lease.is_refilling()
            && lease.debt.load(Ordering::Relaxed) == 0
            && lease.denied_for(ticks(now)).is_none()
            && lease.local.is_neutral(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_taken_until_short() {
        let lease = Lease::new(Box::from(&b"k"[..]), 0);
        assert_eq!(lease.take(1), Take::Short(0));
        lease.apply(
            0,
            3,
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_millis(30),
        );
        assert_eq!(lease.take(2), Take::Taken(1));
        assert_eq!(lease.take(2), Take::Short(1));
        assert_eq!(lease.take(0), Take::Taken(1));
        assert_eq!(lease.reset(10_000_000), Duration::from_millis(20));
    }

    #[test]
    fn a_refusal_holds_until_its_wait_ends() {
        let lease = Lease::new(Box::from(&b"k"[..]), 0);
        lease.apply(
            1_000,
            0,
            Duration::ZERO,
            Duration::from_nanos(500),
            Duration::ZERO,
        );
        assert_eq!(lease.denied_for(1_200), Some(Duration::from_nanos(300)));
        assert_eq!(lease.denied_for(1_500), None);
        // Permits granted ahead of time are held until they conform.
        lease.apply(
            2_000,
            2,
            Duration::from_nanos(100),
            Duration::from_nanos(300),
            Duration::ZERO,
        );
        assert!(!lease.valid(2_050));
        assert_eq!(lease.denied_for(2_050), Some(Duration::from_nanos(50)));
        assert!(lease.valid(2_100));
        assert_eq!(lease.take(2), Take::Taken(0));
        // Spent: refused until Redis' wait ends.
        assert_eq!(lease.denied_for(2_100), Some(Duration::from_nanos(200)));
        assert_eq!(lease.denied_for(2_300), None);
    }

    #[test]
    fn neutral_without_debt_refill_or_refusal() {
        let now = Instant::now();
        let lease = SharedLease(Arc::new(Lease::new(Box::from(&b"k"[..]), 0)));
        assert!(lease.is_neutral(now));
        lease.0.owe(1);
        assert!(!lease.is_neutral(now));
        lease.0.take_debt();
        assert!(lease.0.claim_refill());
        assert!(!lease.0.claim_refill());
        assert!(!lease.is_neutral(now));
        lease.0.end_refill();
        assert!(lease.is_neutral(now));
    }
}
