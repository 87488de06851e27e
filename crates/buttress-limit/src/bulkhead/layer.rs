//! The bulkhead layer and its handles.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use buttress_core::keyed::KeyedMap;
use buttress_core::layer::{Bypass, LayerConfig, LayerHandle, Reconfigure, check_name, fixed};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::config::{BulkheadConfig, BulkheadLayerBuilder, Settings};
use super::scope::{Global, KeySlot, PerKey, Total};
use super::service::Bulkhead;
use crate::ConfigError;
use crate::permit::PermitPool;
use crate::release::{OnBodyEnd, OnResponse};

/// Applies a [`Bulkhead`]: at most `max_concurrent` calls at once, a
/// bounded queue, typed rejections.
///
/// The permits are created when the layer is built and shared by every
/// service it wraps and every clone: axum applies a route's layers per
/// request and per connection, and they must all count against one
/// bulkhead.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_limit::BulkheadLayer;
/// use buttress_core::{Reason, Rejected};
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = BulkheadLayer::builder()
///     .configure(|c| c.max_concurrent = 1)
///     .name("inventory")
///     .build()
///     .unwrap();
/// let handle = layer.handle();
/// let mut svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>("done")
/// });
///
/// let busy = svc.ready().await.unwrap().call(http::Request::new(())); // holds the only slot
/// assert_eq!(handle.in_flight(), 1);
/// let err = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap_err();
/// let rejected = Rejected::find(&*err).unwrap();
/// assert_eq!(rejected.reason(), Reason::BulkheadFull);
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
///
/// assert_eq!(busy.await.unwrap(), "done");
/// assert_eq!(handle.in_flight(), 0);
/// # }
/// ```
pub struct BulkheadLayer<K = Global, R = OnResponse> {
    scope: K,
    settings: Arc<Settings>,
    _release: PhantomData<fn() -> R>,
}

impl BulkheadLayer {
    /// A builder, starting from the defaults of [`BulkheadConfig`].
    pub fn builder() -> BulkheadLayerBuilder {
        BulkheadLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &BulkheadConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<R> BulkheadLayer<Global, R> {
    /// The handle that reads the bulkhead's gauges.
    pub fn handle(&self) -> BulkheadHandle {
        BulkheadHandle {
            pool: self.scope.pool().clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<F, K, R> BulkheadLayer<PerKey<F, K>, R>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// The handle that reads each key's gauges.
    pub fn handle(&self) -> KeyedBulkheadHandle<K> {
        KeyedBulkheadHandle {
            pools: self.scope.pools().clone(),
            total: self.scope.total().clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<K, R> BulkheadLayer<K, R> {
    pub(crate) fn new(scope: K, settings: Arc<Settings>) -> Self {
        BulkheadLayer {
            scope,
            settings,
            _release: PhantomData,
        }
    }

    /// Holds each permit until the HTTP response body ends, not just until
    /// the response head is ready (see [`PermitBody`](crate::PermitBody)).
    pub fn release_on_body_end(self) -> BulkheadLayer<K, OnBodyEnd> {
        BulkheadLayer::new(self.scope, self.settings)
    }
}

impl<K: Clone, R> Clone for BulkheadLayer<K, R> {
    fn clone(&self) -> Self {
        BulkheadLayer::new(self.scope.clone(), self.settings.clone())
    }
}

impl<S, K: Clone, R> Layer<S> for BulkheadLayer<K, R> {
    type Service = Bulkhead<S, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead::new(inner, self.scope.clone(), self.settings.clone())
    }
}

impl<S, R> Bypass<S> for BulkheadLayer<Global, R> {
    /// No cap, nothing queued.
    fn bypass(inner: S) -> Bulkhead<S, Global, R> {
        Bulkhead::bypassed(inner)
    }
}

impl<K: fmt::Debug, R> fmt::Debug for BulkheadLayer<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("config", &self.settings.config)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Reads a [`BulkheadLayer`]'s gauges, shared with every clone of the
/// layer and every service it wrapped.
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::{BulkheadConfig, BulkheadLayer};
///
/// let config = BulkheadConfig { max_concurrent: 8, ..BulkheadConfig::default() };
/// let handle = BulkheadLayer::from_config(&config).unwrap().handle();
/// assert_eq!(handle.id().name(), "bulkhead");
/// assert_eq!((handle.in_flight(), handle.queued(), handle.max_concurrent()), (0, 0, 8));
/// ```
#[derive(Clone)]
pub struct BulkheadHandle {
    pool: Arc<PermitPool>,
    settings: Arc<Settings>,
}

impl BulkheadHandle {
    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.pool.in_flight()
    }

    /// Callers waiting now.
    pub fn queued(&self) -> usize {
        self.pool.queued()
    }

    /// Calls allowed at once.
    pub fn max_concurrent(&self) -> usize {
        self.pool.limit()
    }

    /// The settings the layer runs with now.
    pub fn config(&self) -> BulkheadConfig {
        self.settings
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Reconfigure for BulkheadHandle {
    type Config = BulkheadConfig;

    fn config(&self) -> BulkheadConfig {
        BulkheadHandle::config(self)
    }

    /// A new `max_concurrent` applies at once: a larger one admits
    /// waiters now, a smaller one admits no one until calls in flight
    /// fall below it (none is cut short). New `max_wait` and
    /// `retry_after` apply to callers arriving from now on. The queue's
    /// capacity and order and the name are fixed once built.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_limit::{BulkheadConfig, BulkheadLayer};
    ///
    /// let layer = BulkheadLayer::from_config(&BulkheadConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// handle.reconfigure(&BulkheadConfig { max_concurrent: 2, ..BulkheadConfig::default() }).unwrap();
    /// assert_eq!(handle.max_concurrent(), 2);
    /// let queue = BulkheadConfig { queue_capacity: 7, ..BulkheadConfig::default() };
    /// assert_eq!(handle.reconfigure(&queue).unwrap_err().field(), "queue_capacity");
    /// ```
    fn check(&self, config: &BulkheadConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let built = &self.settings.config;
        check_name(self.id(), config.name.as_deref())?;
        fixed(
            "queue_capacity",
            &built.queue_capacity,
            &config.queue_capacity,
        )?;
        fixed("order", &built.order, &config.order)
    }

    fn reconfigure(&self, config: &BulkheadConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        let mut current = self
            .settings
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.settings.set_waits(config);
        self.pool.set_limit(config.max_concurrent);
        *current = BulkheadConfig {
            name: current.name.clone(),
            ..config.clone()
        };
        Ok(())
    }
}

impl LayerHandle for BulkheadHandle {
    fn id(&self) -> &LayerId {
        self.settings.telemetry.layer()
    }
}

impl fmt::Debug for BulkheadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadHandle")
            .field("id", self.id())
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .finish()
    }
}

/// Reads a keyed [`BulkheadLayer`]'s gauges, key by key.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_limit::BulkheadLayer;
///
/// let layer = BulkheadLayer::builder()
///     .name("tenants")
///     .build_keyed(|req: &http::Request<()>| req.uri().path().to_owned())
///     .unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "tenants");
/// assert_eq!((handle.in_flight_of("/a"), handle.tracked_keys()), (0, 0));
/// assert_eq!((handle.total(), handle.max_total()), (0, 1024 * 64));
/// ```
pub struct KeyedBulkheadHandle<K> {
    pools: Arc<KeyedMap<K, KeySlot>>,
    total: Arc<Total>,
    settings: Arc<Settings>,
}

impl<K> Clone for KeyedBulkheadHandle<K> {
    fn clone(&self) -> Self {
        KeyedBulkheadHandle {
            pools: self.pools.clone(),
            total: self.total.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<K> KeyedBulkheadHandle<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Calls in flight now for `key` (0 for a key not tracked).
    pub fn in_flight_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pools
            .get(key)
            .map_or(0, |slot| slot.key_pool().pool().in_flight())
    }

    /// Callers waiting now for `key` (0 for a key not tracked).
    pub fn queued_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pools
            .get(key)
            .map_or(0, |slot| slot.key_pool().pool().queued())
    }

    /// Keys tracked now.
    pub fn tracked_keys(&self) -> usize {
        self.pools.len()
    }

    /// Calls allowed at once, per key.
    pub fn max_concurrent(&self) -> usize {
        self.settings.config.max_concurrent
    }

    /// Calls in flight or queued now across every key: what `max_total`
    /// caps.
    pub fn total(&self) -> usize {
        self.total.held()
    }

    /// The most calls in flight or queued at once across every key
    /// ([`BulkheadConfig::effective_max_total`]).
    pub fn max_total(&self) -> usize {
        self.total.cap()
    }

    /// The settings the layer was built with (a keyed bulkhead's are
    /// fixed once built).
    pub fn config(&self) -> &BulkheadConfig {
        &self.settings.config
    }
}

impl<K> LayerHandle for KeyedBulkheadHandle<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn id(&self) -> &LayerId {
        self.settings.telemetry.layer()
    }
}

impl<K> fmt::Debug for KeyedBulkheadHandle<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBulkheadHandle")
            .field("id", self.settings.telemetry.layer())
            .field("tracked_keys", &self.pools.len())
            .field("total", &self.total.held())
            .finish()
    }
}
