//! Bounded per-key state that fails safe (ARCHITECTURE.md, rule 11
//! "Keyed state fails safe").
//!
//! Per-key layers — a breaker per host, a bulkhead per tenant, a rate
//! limit per caller — keep their state in a [`KeyedMap`]. Keys come from
//! requests, so a caller can invent as many as it likes; the map therefore
//! has a hard capacity, and makes room the safe way. Each entry says what
//! losing it would cost ([`KeyedState::retention`]):
//!
//! - [`Retention::Neutral`] — a closed breaker with a quiet window, a full
//!   token bucket: state whose loss changes nothing. Evicted first, least
//!   recently used first.
//! - [`Retention::Idle`] — state that holds something, but little enough
//!   that a flood of invented keys must not keep it forever: a closed
//!   breaker with a few failures in its window, an open breaker no call
//!   has reached for a while. Evicted, least recently used first, only
//!   once no neutral entry is left.
//! - [`Retention::Live`] — state whose loss would hurt: an open breaker
//!   calls keep reaching, a spent quota. Never evicted.
//!
//! An entry a request is using right now (one whose [`KeyedEntry`] is
//! held) is never evicted, whatever it says. When every slot holds live
//! state, a new key gets the one shared *overflow* entry instead of
//! evicting an open breaker or resetting a spent quota — decided before
//! anything is built for the key, so a flood of new keys against a full
//! map allocates nothing.
//!
//! Reading an existing key takes a shared (read) lock on one of several
//! shards and allocates nothing; inserting and evicting take that shard's
//! write lock briefly. Making room scans the map once per batch of an
//! eighth of its capacity, so [`retention`](KeyedState::retention) should
//! be cheap: a few atomic loads.
//!
//! ```
//! use buttress_core::keyed::{KeyedMap, KeyedState};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use tokio::time::Instant;
//!
//! #[derive(Default)]
//! struct Failures(AtomicU32);
//!
//! impl KeyedState for Failures {
//!     fn is_neutral(&self, _now: Instant) -> bool {
//!         self.0.load(Ordering::Relaxed) == 0
//!     }
//! }
//!
//! let map: KeyedMap<String, Failures> = KeyedMap::new(1_000, Failures::default());
//! let entry = map.get_or_insert_with("payments.internal", Failures::default);
//! entry.0.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(map.get("payments.internal").unwrap().0.load(Ordering::Relaxed), 1);
//! assert!(!entry.is_overflow());
//! ```

mod map;
mod sweep;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::time::Instant;

pub use self::map::{KeyedMap, KeyedStats};

/// State kept per key, which can tell whether losing it would matter.
pub trait KeyedState: Send + Sync {
    /// Whether the state is neutral at `now`: evicting it and starting
    /// afresh later would behave the same (a closed breaker with an empty
    /// window, a refilled bucket, an idle bulkhead).
    fn is_neutral(&self, now: Instant) -> bool;

    /// What losing the state at `now` would cost, which orders eviction
    /// (see the [module documentation](self)). The default knows only
    /// [`is_neutral`](Self::is_neutral): neutral state is
    /// [`Neutral`](Retention::Neutral), all else [`Live`](Retention::Live)
    /// and never evicted. Override it to let state that holds little —
    /// [`Idle`](Retention::Idle) — make room once no neutral entry is left.
    ///
    /// ```
    /// use buttress_core::keyed::{KeyedMap, KeyedState, Retention};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use tokio::time::Instant;
    ///
    /// /// Strikes against a caller; three or more are worth keeping.
    /// #[derive(Default)]
    /// struct Strikes(AtomicU32);
    ///
    /// impl KeyedState for Strikes {
    ///     fn is_neutral(&self, _now: Instant) -> bool {
    ///         self.0.load(Ordering::Relaxed) == 0
    ///     }
    ///
    ///     fn retention(&self, _now: Instant) -> Retention {
    ///         match self.0.load(Ordering::Relaxed) {
    ///             0 => Retention::Neutral,
    ///             1 | 2 => Retention::Idle,
    ///             _ => Retention::Live,
    ///         }
    ///     }
    /// }
    ///
    /// let map: KeyedMap<u32, Strikes> = KeyedMap::new(2, Strikes::default());
    /// map.get_or_insert_with(&1, Strikes::default).0.store(1, Ordering::Relaxed);
    /// map.get_or_insert_with(&2, Strikes::default).0.store(5, Ordering::Relaxed);
    /// // Full, nothing neutral: the idle entry makes room, the live one stays.
    /// assert!(!map.get_or_insert_with(&3, Strikes::default).is_overflow());
    /// assert!(map.get(&1).is_none());
    /// assert!(map.get(&2).is_some());
    /// ```
    fn retention(&self, now: Instant) -> Retention {
        if self.is_neutral(now) {
            Retention::Neutral
        } else {
            Retention::Live
        }
    }
}

/// What losing a key's state would cost, from least to most: the order in
/// which a full [`KeyedMap`] evicts (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Retention {
    /// Losing it changes nothing: evicted first, least recently used first.
    Neutral,
    /// It holds something, but little: evicted, least recently used first,
    /// only once no neutral entry is left.
    Idle,
    /// Losing it would change behaviour: never evicted.
    Live,
}

/// A value and when it was last used, in the map's logical generations.
pub(crate) struct Slot<V> {
    value: V,
    last_used: AtomicU64,
}

/// A handle to one key's state (or to the shared overflow state). Holding
/// it pins the entry: the map does not evict state a request is using.
pub struct KeyedEntry<V> {
    slot: Arc<Slot<V>>,
    overflow: bool,
}

impl<V> KeyedEntry<V> {
    /// Whether this is the shared overflow entry, handed out because the
    /// map was full of live state.
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }
}

impl<V> Clone for KeyedEntry<V> {
    fn clone(&self) -> Self {
        KeyedEntry {
            slot: self.slot.clone(),
            overflow: self.overflow,
        }
    }
}

impl<V> Deref for KeyedEntry<V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.slot.value
    }
}

impl<V: fmt::Debug> fmt::Debug for KeyedEntry<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedEntry")
            .field("value", &self.slot.value)
            .field("overflow", &self.overflow)
            .finish()
    }
}
