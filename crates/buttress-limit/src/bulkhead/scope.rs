//! What a bulkhead isolates: every request together, or each key apart.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use buttress_core::keyed::KeyedMap;
use buttress_core::telemetry::Telemetry;

use super::config::BulkheadConfig;
use crate::permit::{PermitPool, PoolRef};

fn pool(config: &BulkheadConfig, telemetry: &Telemetry) -> PermitPool {
    PermitPool::new(config.max_concurrent, config.queue_capacity, config.order)
        .with_telemetry(telemetry.clone())
}

/// One bulkhead for every request through the layer.
#[derive(Clone)]
pub struct Global {
    pool: Arc<PermitPool>,
}

impl Global {
    pub(crate) fn new(config: &BulkheadConfig, telemetry: &Telemetry) -> Self {
        Global {
            pool: Arc::new(pool(config, telemetry)),
        }
    }

    #[inline]
    pub(crate) fn select(&self) -> PoolRef {
        PoolRef::Shared(self.pool.clone())
    }

    pub(crate) fn pool(&self) -> &PermitPool {
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

/// A bulkhead per key, the key taken from each request by `F`.
pub struct PerKey<F, K> {
    key: Arc<F>,
    pools: Arc<KeyedMap<K, PermitPool>>,
    template: Arc<(BulkheadConfig, Telemetry)>,
}

impl<F, K> Clone for PerKey<F, K> {
    fn clone(&self) -> Self {
        PerKey {
            key: self.key.clone(),
            pools: self.pools.clone(),
            template: self.template.clone(),
        }
    }
}

impl<F, K> PerKey<F, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(key: F, config: &BulkheadConfig, telemetry: &Telemetry) -> Self {
        PerKey {
            key: Arc::new(key),
            pools: Arc::new(KeyedMap::new(config.max_keys, pool(config, telemetry))),
            template: Arc::new((config.clone(), telemetry.clone())),
        }
    }

    /// The pool for `request`'s key, created on first sight. Reading an
    /// existing key takes a shared lock on one shard and allocates nothing.
    #[inline]
    pub(crate) fn select<Req>(&self, request: &Req) -> PoolRef
    where
        F: Fn(&Req) -> K,
    {
        let key = (self.key)(request);
        let entry = self
            .pools
            .get_or_insert_with(&key, || pool(&self.template.0, &self.template.1));
        PoolRef::Keyed(entry)
    }

    /// Calls in flight for `key`.
    pub(crate) fn in_flight_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pools.get(key).map_or(0, |pool| pool.in_flight())
    }

    /// Callers queued for `key`.
    pub(crate) fn queued_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pools.get(key).map_or(0, |pool| pool.queued())
    }

    /// Keys tracked now.
    pub(crate) fn keys(&self) -> usize {
        self.pools.len()
    }
}

impl<F, K> fmt::Debug for PerKey<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerKey")
            .field("pools", &self.pools)
            .finish()
    }
}
