//! One breaker per key: per host, route template, method, tenant.
//!
//! A dependency is often several: one host of a pool can fail while the
//! others answer, one route can hang while the rest are fine. A keyed
//! breaker takes a key from each request (a closure `Fn(&Req) -> K`) and
//! keeps a breaker per key in core's bounded
//! [`KeyedMap`](buttress_core::keyed::KeyedMap), with the same config for
//! all and one telemetry registration for the layer.
//!
//! # Bounded, and what it evicts
//!
//! Keys come from requests, so a caller can invent as many as it likes.
//! The map holds at most [`max_keys`](crate::BreakerConfig::max_keys), and
//! when it is full it makes room the way a bounded registry is expected
//! to — least recently used first, and the less a breaker holds, the
//! sooner ([`Retention`](buttress_core::keyed::Retention)):
//!
//! 1. a closed breaker with no failure or slow call in its window (losing
//!    it changes nothing);
//! 2. then a closed breaker with a few failures, below the threshold, or
//!    an open one no call has reached for a whole `wait` (its next call
//!    would probe anyway) — so a flood of failing keys cannot keep the
//!    map for itself;
//! 3. never an open or half-open breaker that calls keep reaching (one
//!    within the last `wait`), one set by hand, or one a call or a
//!    [`CircuitBreakerHandle`](crate::CircuitBreakerHandle) is using.
//!
//! That last rule is the trade-off. An attacker rotating keys cannot
//! flush a breaker that is protecting live traffic: it stays until its
//! calls stop. But an attacker who trips many keys and keeps calling them
//! can hold those slots; a new key then finds no room. It is admitted —
//! a key is never refused because the map is full — through the layer's
//! *overflow* entry, which admits every call and records nothing: the new
//! key is unprotected until a slot frees up (the map's
//! [`overflowed`](buttress_core::keyed::KeyedStats::overflowed) counter
//! says how often). A shared overflow breaker would instead let the
//! flood's failures trip it and refuse every healthy newcomer, which is
//! what an earlier version did. As with Envoy's outlier detection, which
//! never ejects past `max_ejection_percent`, a bounded protective
//! structure that is full fails open.
//!
//! Deciding that a new key overflows allocates nothing, and classifying
//! an entry is a few atomic loads, so a flood of new keys against a full
//! map costs each call about what a known key's call costs.
//!
//! # Memory
//!
//! Each key's window is its own: a count window one byte per call; a time
//! window unstriped, 16 bytes a bucket up to 512 buckets and 8 past them
//! (at most 8,192 bytes). A key's breaker, window and map entry take at
//! most [`key_memory`](crate::BreakerConfig::key_memory) bytes — at most
//! 10,240 (under 16 KiB) with any time window — and all keys together at
//! most [`MAX_KEYED_MEMORY`](crate::MAX_KEYED_MEMORY) (64 MiB), checked
//! when the layer is built
//! ([`validate_keyed`](crate::BreakerConfig::validate_keyed)).
//!
//! Telemetry is per layer: transitions of every key are reported under
//! the layer's one name (labels per key would be an open-ended set); the
//! layer's [`KeyedCircuitBreakerHandle`] reaches each key's breaker.

mod layer;
mod service;

pub use self::layer::{KeyedCircuitBreakerHandle, KeyedCircuitBreakerLayer};
pub use self::service::KeyedCircuitBreaker;

use std::sync::Arc;

use buttress_core::keyed::KeyedMap;

use crate::machine::settings::WindowShape;
use crate::shared::{Breaker, Policy};
use crate::window::time::{PER_KEY_MAX_BYTES, TimeWindow};

/// What one key holds besides its window's counters, at most: its
/// breaker, the `Arc` around it, its map entry and table share. Measured
/// at about 930 bytes with a short string key (`tests/keyed_memory.rs`
/// holds it to this bound).
pub(crate) const KEY_BOOKKEEPING: usize = 2 * 1024;

/// The most a key takes with a time window, whatever its buckets.
pub(crate) const MAX_TIME_KEY_BYTES: usize = KEY_BOOKKEEPING + PER_KEY_MAX_BYTES;
const _: () = assert!(MAX_TIME_KEY_BYTES <= 16 * 1024);

/// The most bytes one key of a keyed breaker with this window holds.
pub(crate) const fn key_bytes(window: WindowShape) -> usize {
    KEY_BOOKKEEPING
        + match window {
            WindowShape::Count { size } => size as usize,
            WindowShape::Time { buckets, .. } => TimeWindow::per_key_bytes(buckets),
        }
}

/// What a keyed layer shares with its services.
pub(crate) struct KeyedShared<K> {
    pub(crate) policy: Arc<Policy>,
    /// The most bytes one key holds (see [`key_bytes`]).
    pub(crate) key_memory: usize,
    pub(crate) map: KeyedMap<K, Breaker>,
    pub(crate) metrics_only: bool,
}

impl<K> KeyedShared<K> {
    pub(crate) fn make(&self) -> Breaker {
        Breaker::per_key(self.policy.clone(), self.metrics_only)
    }
}
