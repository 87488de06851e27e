//! Bounded per-key state that fails safe (ARCHITECTURE.md, rule 11
//! "Keyed state fails safe").
//!
//! Per-key layers — a breaker per host, a bulkhead per tenant, a rate
//! limit per caller — keep their state in a [`KeyedMap`]. Keys come from
//! requests, so a caller can invent as many as it likes; the map therefore
//! has a hard capacity, and makes room the safe way:
//!
//! - it evicts only entries whose state is *neutral* ([`KeyedState`]): a
//!   closed breaker with a quiet window, a full token bucket — state whose
//!   loss changes nothing — least recently used first, and never an entry
//!   a request is using right now;
//! - when every slot holds live state, a new key shares one *overflow*
//!   entry instead of evicting an open breaker or resetting a spent quota.
//!
//! Reading an existing key takes a shared (read) lock on one of several
//! shards and allocates nothing; inserting and evicting take that shard's
//! write lock briefly.
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
