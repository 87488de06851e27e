//! [`RetryLayer`].

use std::sync::Arc;

use buttress_core::config::ConfigError;
use buttress_core::layer::{DefaultClassifier, LayerConfig};
use tower_layer::Layer;

use crate::builder::RetryLayerBuilder;
use crate::config::RetryConfig;
use crate::handle::RetryHandle;
use crate::replay::BufferBody;
use crate::service::Retry;
use crate::shared::Shared;

/// Applies [`Retry`] to services. Every service it builds, and every clone
/// of those, shares the layer's policy, budget, random stream and
/// telemetry handle, created once when the layer is built.
///
/// Built the way every Buttress layer is (see [`buttress_core::layer`]):
/// in code with [`builder`](Self::builder), from data with
/// [`from_config`](Self::from_config) or
/// [`LayerConfig::build_in`](buttress_core::layer::LayerConfig::build_in);
/// read through [`handle`](Self::handle).
///
/// `P` is the [`Replay`](crate::Replay) strategy ([`BufferBody`] for HTTP
/// bodies by default), `C` the classifier ([`DefaultClassifier`] by
/// default: `grpc-status` when an answer carries one, else the HTTP
/// status).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_retry::RetryLayer;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// // A dependency that fails its first call.
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let flaky = tower::service_fn(move |_req: http::Request<()>| {
///     let n = seen.fetch_add(1, Ordering::Relaxed);
///     async move {
///         let status = if n == 0 { 503 } else { 200 };
///         Ok::<_, std::convert::Infallible>(http::Response::builder().status(status).body(()).unwrap())
///     }
/// });
/// let layer = RetryLayer::builder().name("inventory").clone_requests().build().unwrap();
/// let res = layer.layer(flaky).oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// # }
/// ```
pub struct RetryLayer<P = BufferBody, C = DefaultClassifier> {
    shared: Arc<Shared<P, C>>,
}

impl RetryLayer {
    /// A builder starting from the documented defaults (see
    /// [`RetryConfig`]): 3 attempts, full-jitter backoff from 50 ms, a
    /// budget of 10 % + 10/s over 10 s, idempotent requests only, bodies up
    /// to 64 KiB replayed. Its settings change through
    /// [`LayerBuilder`](buttress_core::layer::LayerBuilder)'s `.configure(..)`.
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder::default()
    }

    /// A layer from `config` (loaded from a file, say), validated,
    /// judging answers with [`DefaultClassifier`] and reporting to the
    /// global telemetry sink.
    pub fn from_config(config: &RetryConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<P, C> RetryLayer<P, C> {
    pub(crate) fn new(shared: Shared<P, C>) -> Self {
        RetryLayer {
            shared: Arc::new(shared),
        }
    }

    /// The handle that reads the layer's settings and budget (every clone
    /// of the layer, and every service it built, share them).
    pub fn handle(&self) -> RetryHandle {
        self.shared.handle.clone()
    }
}

impl<P, C> Clone for RetryLayer<P, C> {
    fn clone(&self) -> Self {
        RetryLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<P, C> std::fmt::Debug for RetryLayer<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S: Clone, P, C> Layer<S> for RetryLayer<P, C> {
    type Service = Retry<S, P, C>;

    fn layer(&self, inner: S) -> Retry<S, P, C> {
        Retry::new(inner, self.shared.clone())
    }
}
