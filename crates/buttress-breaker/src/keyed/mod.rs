//! One breaker per key: per host, route template, method, tenant.
//!
//! A dependency is often several: one host of a pool can fail while the
//! others answer, one route can hang while the rest are fine. A keyed
//! breaker takes a key from each request (a closure `Fn(&Req) -> K`) and
//! keeps a breaker per key in core's bounded
//! [`KeyedMap`](buttress_core::keyed::KeyedMap), with the same config for
//! all and one telemetry registration for the layer.
//!
//! Keys come from requests, so the map is bounded
//! ([`max_keys`](crate::BreakerConfig::max_keys)) and makes room the safe
//! way: it evicts only *neutral* breakers — closed
//! with no failure or slow call in the window — and never one a call is
//! using; when every slot holds a live breaker, new keys share one
//! overflow breaker rather than evicting an open one.
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

use crate::shared::{Breaker, Policy};

/// What a keyed layer shares with its services.
pub(crate) struct KeyedShared<K> {
    pub(crate) policy: Arc<Policy>,
    pub(crate) map: KeyedMap<K, Breaker>,
    pub(crate) metrics_only: bool,
}

impl<K> KeyedShared<K> {
    pub(crate) fn make(&self) -> Breaker {
        Breaker::new(self.policy.clone(), self.metrics_only)
    }
}
