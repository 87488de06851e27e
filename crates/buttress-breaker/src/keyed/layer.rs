//! The keyed breaker layer.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use buttress_core::keyed::{KeyedMap, KeyedStats};
use buttress_core::layer::{DefaultClassifier, LayerHandle};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::{KeyedCircuitBreaker, KeyedShared, key_bytes};
use crate::handle::CircuitBreakerHandle;
use crate::shared::{Breaker, Policy};

/// Wraps services in a [`KeyedCircuitBreaker`]: one breaker per key, all
/// shared by every service the layer builds.
///
/// Built the one way a keyed breaker is:
/// `CircuitBreakerLayer::builder()` (its data set with `.configure(..)`,
/// or a loaded [`BreakerConfig`](crate::BreakerConfig) given whole with
/// `.with_config(..)`), then
/// [`build_keyed(extract)`](crate::CircuitBreakerLayerBuilder::build_keyed)
/// with the closure that takes the key from a request — a key extractor is
/// code, not data, so there is no `from_config` of its own. Its
/// [`handle`](Self::handle) reaches each key's breaker.
///
/// The map of keys is bounded, and what it evicts when full — quiet
/// breakers first, never an open one calls keep reaching — and what a new
/// key gets when nothing can go (admitted, unprotected: never refused for
/// want of room) are described in the [crate documentation](crate) and
/// [`BreakerConfig::max_keys`](crate::BreakerConfig::max_keys).
///
/// ```
/// use buttress_breaker::{CircuitBreakerLayer, State, WindowConfig};
/// use buttress_core::layer::LayerBuilder;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // One breaker per host.
/// let layer = CircuitBreakerLayer::builder()
///     .configure(|c| {
///         c.window = WindowConfig::Count { size: 4 };
///         c.minimum_calls = 2;
///     })
///     .name("upstreams")
///     .build_keyed(|req: &Request<()>| req.uri().host().unwrap_or("").to_owned())
///     .unwrap();
///
/// let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(|req: Request<()>| async move {
///     let status = if req.uri().host() == Some("sick.internal") { 503 } else { 200 };
///     Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(()).unwrap())
/// });
/// for host in ["sick.internal", "sick.internal", "well.internal"] {
///     let req = Request::get(format!("http://{host}/")).body(()).unwrap();
///     svc.clone().oneshot(req).await.unwrap();
/// }
/// let handle = layer.handle();
/// assert_eq!(handle.breaker("sick.internal").unwrap().state(), State::Open);
/// assert_eq!(handle.breaker("well.internal").unwrap().state(), State::Closed);
/// assert_eq!(handle.key_stats().len, 2);
/// # }
/// ```
pub struct KeyedCircuitBreakerLayer<K, E, C = DefaultClassifier> {
    shared: Arc<KeyedShared<K>>,
    extract: E,
    classifier: C,
}

impl<K, E, C> KeyedCircuitBreakerLayer<K, E, C>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    pub(crate) fn new(
        policy: Arc<Policy>,
        max_keys: usize,
        metrics_only: bool,
        extract: E,
        classifier: C,
    ) -> Self {
        // New keys that find the map full of live breakers are admitted
        // and not recorded: see the module documentation for why.
        let overflow = Breaker::pass_through(policy.clone());
        KeyedCircuitBreakerLayer {
            shared: Arc::new(KeyedShared {
                key_memory: key_bytes(policy.settings.window),
                policy,
                map: KeyedMap::new(max_keys, overflow),
                metrics_only,
            }),
            extract,
            classifier,
        }
    }

    /// The handle that reaches each key's breaker and reads the key map.
    pub fn handle(&self) -> KeyedCircuitBreakerHandle<K> {
        KeyedCircuitBreakerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<K, E: Clone, C: Clone> Clone for KeyedCircuitBreakerLayer<K, E, C> {
    fn clone(&self) -> Self {
        KeyedCircuitBreakerLayer {
            shared: self.shared.clone(),
            extract: self.extract.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<K, E, C> fmt::Debug for KeyedCircuitBreakerLayer<K, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breaker", self.shared.policy.telemetry.layer())
            .field("keys", &self.shared.map)
            .finish()
    }
}

/// Reads a [`KeyedCircuitBreakerLayer`]: each key's breaker (a
/// [`CircuitBreakerHandle`] that reads and steers it) and the key map's
/// counters. Cheap to
/// clone; every clone sees the same breakers.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_breaker::CircuitBreakerLayer;
/// use buttress_core::layer::LayerHandle;
///
/// let layer = CircuitBreakerLayer::builder()
///     .name("tenants")
///     .build_keyed(|req: &http::Request<()>| req.headers().len())
///     .unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "tenants");
/// assert!(handle.breaker(&7usize).is_none(), "no call yet");
/// assert_eq!(handle.key_stats().len, 0);
/// ```
pub struct KeyedCircuitBreakerHandle<K> {
    shared: Arc<KeyedShared<K>>,
}

impl<K> KeyedCircuitBreakerHandle<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    /// The breaker of `key`, if the layer holds one. Holding the returned
    /// handle keeps that breaker from being evicted.
    pub fn breaker<Q>(&self, key: &Q) -> Option<CircuitBreakerHandle>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.map.get(key).map(CircuitBreakerHandle::keyed)
    }

    /// Counters of the key map: keys held, capacity, evictions, overflows
    /// (calls of new keys admitted unprotected because no slot could be
    /// freed).
    pub fn key_stats(&self) -> KeyedStats {
        self.shared.map.stats()
    }

    /// The most bytes one key holds — its breaker, window and map entry —
    /// as [`BreakerConfig::key_memory`](crate::BreakerConfig::key_memory)
    /// says for the layer's config; all keys together take at most this
    /// times [`key_stats`](Self::key_stats)`().capacity`, which building
    /// the layer held to [`MAX_KEYED_MEMORY`](crate::MAX_KEYED_MEMORY).
    pub fn key_memory(&self) -> usize {
        self.shared.key_memory
    }
}

impl<K> Clone for KeyedCircuitBreakerHandle<K> {
    fn clone(&self) -> Self {
        KeyedCircuitBreakerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<K: Send + Sync + 'static> LayerHandle for KeyedCircuitBreakerHandle<K> {
    fn id(&self) -> &LayerId {
        self.shared.policy.telemetry.layer()
    }
}

impl<K> fmt::Debug for KeyedCircuitBreakerHandle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerHandle")
            .field("breaker", self.shared.policy.telemetry.layer())
            .field("keys", &self.shared.map)
            .finish()
    }
}

impl<S, K, E: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, E, C> {
    type Service = KeyedCircuitBreaker<S, K, E, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker::new(
            inner,
            self.shared.clone(),
            self.extract.clone(),
            self.classifier.clone(),
        )
    }
}
