//! What a bulkhead isolates: every request together, or each key apart.
//!
//! A keyed bulkhead holds one pool per key in core's bounded keyed map,
//! and one count across every key: the calls in flight or queued, capped
//! at `max_total`. A call that holds or waits for a key's slot keeps that
//! key busy, and a busy key is never evicted. So the map can fill with
//! busy keys only once `max_keys` of them hold calls; a new key then gets
//! the map's one overflow pool, which here is limited by the cap alone.
//! Either way a caller holding calls open on many invented keys cannot
//! shut new tenants out below the cap (with `max_total ≤ max_keys`, every
//! new tenant even gets a pool of its own), and at the cap everyone is
//! refused alike, with the bulkhead's usual [`Reason::BulkheadFull`].
//!
//! [`Reason::BulkheadFull`]: buttress_core::Reason::BulkheadFull

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::keyed::{KeyedEntry, KeyedMap, KeyedState};
use tokio::time::Instant;

use super::config::Settings;
use crate::permit::{Permit, PermitOwner, PermitPool, PoolRef};

fn pool(settings: &Settings) -> PermitPool {
    let config = &settings.config;
    PermitPool::new(config.max_concurrent, config.queue_capacity, config.order)
        .with_telemetry(settings.telemetry.clone())
}

/// One bulkhead for every request through the layer.
#[derive(Clone)]
pub struct Global {
    pool: Arc<PermitPool>,
}

impl Global {
    pub(crate) fn new(settings: &Settings) -> Self {
        // One pool for the layer: its gauges are the layer's, reported on
        // every change, and told to a sink installed later when it binds.
        let pool = Arc::new(pool(settings).reporting_gauges());
        settings.telemetry.replay_on_bind(&pool);
        Global { pool }
    }

    #[inline]
    pub(crate) fn select(&self) -> PoolRef {
        PoolRef::Shared(self.pool.clone())
    }

    pub(crate) fn pool(&self) -> &Arc<PermitPool> {
        &self.pool
    }
}

impl fmt::Debug for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Global")
            .field("in_flight", &self.pool.in_flight())
            .field("queued", &self.pool.queued())
            .finish()
    }
}

/// The calls a keyed bulkhead holds (in flight or queued) across every
/// key, and the most it may hold.
#[derive(Debug)]
pub(crate) struct Total {
    held: AtomicUsize,
    cap: usize,
}

impl Total {
    fn new(cap: usize) -> Self {
        Total {
            held: AtomicUsize::new(0),
            cap,
        }
    }

    /// A place for one more call, unless the cap is reached. One
    /// compare-and-swap, no lock.
    #[inline]
    fn seat(&self) -> Option<Seat<'_>> {
        // Relaxed is enough: the count publishes no other data, and the
        // read-modify-writes on it are totally ordered whatever the
        // ordering, so the cap is never overshot.
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held < self.cap).then_some(held + 1)
            })
            .ok()
            .map(|_| Seat { total: self })
    }

    #[inline]
    fn give_back(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }

    /// Calls held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The most calls held at once.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }
}

/// One key's pool, and the count across keys its permits belong to.
///
/// It owns the permits taken on the fast path: their one `finished` call
/// — which this layer leaves to the permit's drop, so that it comes when
/// the slot is given back (with [`OnBodyEnd`](crate::OnBodyEnd), at the
/// end of the body) — gives the call's place under `max_total` back.
pub(crate) struct KeyPool {
    pool: PermitPool,
    total: Arc<Total>,
}

impl KeyPool {
    pub(crate) fn pool(&self) -> &PermitPool {
        &self.pool
    }
}

impl PermitOwner for KeyPool {
    fn pool(&self) -> &PermitPool {
        &self.pool
    }

    fn finished(&self, _outcome: Outcome, _rtt: Duration, _ended: Option<Instant>) {
        // Called once per permit, when it is dropped (the future reports
        // the outcome itself and never finishes a keyed permit early).
        self.total.give_back();
    }
}

/// A caller that queues on a key: its place under `max_total` lives as
/// long as its ticket, then its permit if it gets one, and is given back
/// when the last of them is dropped — whether the wait ends in a permit,
/// a timeout or the caller giving up. Only callers that queue allocate
/// one.
struct Waiter {
    key: Arc<KeyPool>,
}

impl PermitOwner for Waiter {
    fn pool(&self) -> &PermitPool {
        &self.key.pool
    }

    fn finished(&self, _outcome: Outcome, _rtt: Duration, _ended: Option<Instant>) {}
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.key.total.give_back();
    }
}

/// One call's place under `max_total`: given back when dropped, unless a
/// permit or a queued caller's ticket takes it over.
pub(crate) struct Seat<'a> {
    total: &'a Total,
}

impl Seat<'_> {
    /// A permit on `key`'s pool, already taken there, which gives the
    /// place back when it is dropped. Allocates nothing.
    pub(crate) fn into_permit(self, key: &Arc<KeyPool>) -> Permit {
        std::mem::forget(self);
        Permit::new(PoolRef::Owned(key.clone()))
    }

    /// The source a queued caller waits on: the place is given back when
    /// the ticket and any permit it yields are gone.
    pub(crate) fn into_waiter(self, key: &Arc<KeyPool>) -> PoolRef {
        std::mem::forget(self);
        PoolRef::Owned(Arc::new(Waiter { key: key.clone() }))
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.total.give_back();
    }
}

/// A key's entry in the keyed map.
pub(crate) struct KeySlot(Arc<KeyPool>);

impl KeySlot {
    pub(crate) fn key_pool(&self) -> &Arc<KeyPool> {
        &self.0
    }
}

/// An idle pool (no permit out, nobody queued) is neutral: the map may
/// evict it and start afresh later without anyone noticing. A key with a
/// call in flight or queued is never evicted, so there are never more
/// busy keys than calls held.
impl KeyedState for KeySlot {
    fn is_neutral(&self, now: Instant) -> bool {
        self.0.pool.is_neutral(now)
    }
}

/// A bulkhead per key, the key taken from each request by `F`.
pub struct PerKey<F, K> {
    key: Arc<F>,
    pools: Arc<KeyedMap<K, KeySlot>>,
    total: Arc<Total>,
    settings: Arc<Settings>,
}

impl<F, K> Clone for PerKey<F, K> {
    fn clone(&self) -> Self {
        PerKey {
            key: self.key.clone(),
            pools: self.pools.clone(),
            total: self.total.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<F, K> PerKey<F, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(key: F, settings: &Arc<Settings>) -> Self {
        let config = &settings.config;
        let total = Arc::new(Total::new(config.effective_max_total()));
        // The map's shared overflow entry serves a new key when every slot
        // is busy (or pinned at that instant: a sweep under way on another
        // thread, a handle reading a key). It is limited by the total
        // alone, so that such a key is admitted below the cap like any
        // other, rather than refused by a pool of one key's size that a
        // caller holding calls open on invented keys keeps full.
        let overflow = KeyPool {
            pool: PermitPool::new(total.cap(), config.queue_capacity, config.order),
            total: total.clone(),
        };
        PerKey {
            key: Arc::new(key),
            pools: Arc::new(KeyedMap::new(config.max_keys, KeySlot(Arc::new(overflow)))),
            total,
            settings: settings.clone(),
        }
    }

    /// A place under `max_total` and the entry for `request`'s key
    /// (created on first sight), or `None` at the cap. The place is taken
    /// first, so every key pinned or made busy by a call is counted.
    /// Reading an existing key takes a shared lock on one shard and
    /// allocates nothing.
    #[inline]
    pub(crate) fn enter<Req>(&self, request: &Req) -> Option<(Seat<'_>, KeyedEntry<KeySlot>)>
    where
        F: Fn(&Req) -> K,
    {
        let seat = self.total.seat()?;
        // The key function is the caller's code: should it panic, the
        // seat is given back as it unwinds.
        let key = (self.key)(request);
        let entry = self.pools.get_or_insert_with(&key, || self.key_pool());
        Some((seat, entry))
    }

    /// A new key's pool: no telemetry of its own (the layer's future
    /// reports each call), counted in the layer's total.
    fn key_pool(&self) -> KeySlot {
        let config = &self.settings.config;
        KeySlot(Arc::new(KeyPool {
            pool: PermitPool::new(config.max_concurrent, config.queue_capacity, config.order),
            total: self.total.clone(),
        }))
    }

    /// The map of per-key pools, for the layer's handle.
    pub(crate) fn pools(&self) -> &Arc<KeyedMap<K, KeySlot>> {
        &self.pools
    }

    /// The count across keys, for the layer's handle.
    pub(crate) fn total(&self) -> &Arc<Total> {
        &self.total
    }
}

impl<F, K> fmt::Debug for PerKey<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerKey")
            .field("pools", &self.pools)
            .field("total", &self.total.held())
            .field("max_total", &self.total.cap())
            .finish()
    }
}
