//! The bulkhead layer.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::config::{BulkheadBuilder, BulkheadConfig, Settings};
use super::scope::{Global, PerKey};
use super::service::Bulkhead;
use crate::ConfigError;
use crate::release::{OnBodyEnd, OnResponse};

/// Applies a [`Bulkhead`]: at most `max_concurrent` calls at once, a
/// bounded queue, typed rejections.
///
/// The permits are created when the layer is built and shared by every
/// service it wraps and every clone (DESIGN.md contract 1): axum applies a
/// route's layers per request and per connection, and they must all count
/// against one bulkhead.
///
/// ```
/// use buttress_limit::BulkheadLayer;
/// use buttress_core::{Reason, Rejected};
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = BulkheadLayer::builder()
///     .name("inventory")
///     .max_concurrent(1)
///     .build()
///     .unwrap();
/// let mut svc = ServiceBuilder::new().layer(layer.clone()).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>("done")
/// });
///
/// let busy = svc.ready().await.unwrap().call(http::Request::new(())); // holds the only slot
/// let err = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap_err();
/// let rejected = Rejected::find(&*err).unwrap();
/// assert_eq!(rejected.reason(), Reason::BulkheadFull);
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
///
/// assert_eq!(busy.await.unwrap(), "done");
/// assert_eq!(layer.in_flight(), 0);
/// # }
/// ```
pub struct BulkheadLayer<K = Global, R = OnResponse> {
    scope: K,
    settings: Arc<Settings>,
    _release: PhantomData<fn() -> R>,
}

impl BulkheadLayer {
    /// A builder with the defaults of [`BulkheadConfig`].
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder::default()
    }

    /// A layer from validated settings.
    pub fn from_config(config: BulkheadConfig) -> Result<Self, ConfigError> {
        BulkheadBuilder::from_config(config).build()
    }
}

impl<R> BulkheadLayer<Global, R> {
    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.scope.pool().in_flight()
    }

    /// Callers waiting now.
    pub fn queued(&self) -> usize {
        self.scope.pool().queued()
    }
}

impl<F, K, R> BulkheadLayer<PerKey<F, K>, R>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Calls in flight now for `key`.
    pub fn in_flight_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.scope.in_flight_of(key)
    }

    /// Callers waiting now for `key`.
    pub fn queued_of<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.scope.queued_of(key)
    }

    /// Keys tracked now.
    pub fn tracked_keys(&self) -> usize {
        self.scope.keys()
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

    /// The settings the layer was built with.
    pub fn config(&self) -> &BulkheadConfig {
        &self.settings.config
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

impl<K: fmt::Debug, R> fmt::Debug for BulkheadLayer<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("config", &self.settings.config)
            .field("scope", &self.scope)
            .finish()
    }
}
