//! What a bulkhead isolates: every request together, or each key apart.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use buttress_core::keyed::KeyedMap;

use super::config::Settings;
use crate::permit::{PermitPool, PoolRef};

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

/// A bulkhead per key, the key taken from each request by `F`.
pub struct PerKey<F, K> {
    key: Arc<F>,
    pools: Arc<KeyedMap<K, PermitPool>>,
    settings: Arc<Settings>,
}

impl<F, K> Clone for PerKey<F, K> {
    fn clone(&self) -> Self {
        PerKey {
            key: self.key.clone(),
            pools: self.pools.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<F, K> PerKey<F, K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(key: F, settings: &Arc<Settings>) -> Self {
        PerKey {
            key: Arc::new(key),
            pools: Arc::new(KeyedMap::new(settings.config.max_keys, pool(settings))),
            settings: settings.clone(),
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
        let entry = self.pools.get_or_insert_with(&key, || pool(&self.settings));
        PoolRef::Keyed(entry)
    }

    /// The map of per-key pools, for the layer's handle.
    pub(crate) fn pools(&self) -> &Arc<KeyedMap<K, PermitPool>> {
        &self.pools
    }
}

impl<F, K> fmt::Debug for PerKey<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerKey")
            .field("pools", &self.pools)
            .finish()
    }
}
