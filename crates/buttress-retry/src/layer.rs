//! [`RetryLayer`].

use std::sync::Arc;

use buttress_core::classify::HttpClassifier;
use buttress_core::config::ConfigError;
use tower_layer::Layer;

use crate::budget::RetryBudget;
use crate::builder::RetryLayerBuilder;
use crate::config::RetryConfig;
use crate::replay::BufferBody;
use crate::service::Retry;
use crate::shared::Shared;

/// Applies [`Retry`] to services. Every service it builds, and every clone
/// of those, shares the layer's policy, budget, random stream and
/// telemetry handle, created once when the layer is built.
///
/// `P` is the [`Replay`](crate::Replay) strategy ([`BufferBody`] for HTTP
/// bodies by default), `C` the classifier ([`HttpClassifier`] by default).
///
/// ```
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
pub struct RetryLayer<P = BufferBody, C = HttpClassifier> {
    pub(crate) shared: Arc<Shared<P, C>>,
}

impl RetryLayer {
    /// A layer with the documented defaults (3 attempts, full-jitter
    /// backoff from 50 ms, budget of 10 % + 10/s over 10 s, idempotent
    /// requests only, bodies up to 64 KiB replayed), reporting to the
    /// global telemetry sink as `retry`.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder starting from the defaults.
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder::new()
    }

    /// A layer from `config` (loaded from a file, say), validated.
    pub fn from_config(config: RetryConfig) -> Result<Self, ConfigError> {
        RetryLayerBuilder::from_config(config).build()
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, C> RetryLayer<P, C> {
    /// The budget this layer draws on, if it has one.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
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

impl<S, P, C> Layer<S> for RetryLayer<P, C> {
    type Service = Retry<S, P, C>;

    fn layer(&self, inner: S) -> Retry<S, P, C> {
        Retry::new(inner, self.shared.clone())
    }
}
