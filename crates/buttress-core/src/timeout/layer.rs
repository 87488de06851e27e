//! [`TimeoutLayer`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::Timeout;
use crate::config::ConfigError;
use crate::telemetry::{LayerKind, Telemetry, TelemetrySink};

/// What every [`Timeout`] built by one layer shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) limit: Option<Duration>,
    pub(super) telemetry: Telemetry,
}

/// Applies [`Timeout`] to services: ends each call at the smaller of a
/// limit and the request's remaining deadline. See the
/// [module documentation](super).
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    shared: Arc<Shared>,
}

impl TimeoutLayer {
    /// A layer enforcing `limit` (and any shorter request deadline),
    /// reporting to the global telemetry sink as `timeout`.
    ///
    /// # Panics
    ///
    /// If `limit` is zero; use [`TimeoutLayer::builder`] to validate
    /// configuration without panicking.
    pub fn new(limit: Duration) -> Self {
        Self::builder()
            .limit(limit)
            .build()
            .expect("a timeout limit must be greater than zero")
    }

    /// A layer enforcing only the request's deadline, if it has one.
    pub fn deadline_only() -> Self {
        Self::builder()
            .build()
            .expect("a deadline-only layer is always valid")
    }

    /// A builder, to name the layer or give it its own sink.
    pub fn builder() -> TimeoutLayerBuilder {
        TimeoutLayerBuilder::default()
    }

    /// The configured limit.
    pub fn limit(&self) -> Option<Duration> {
        self.shared.limit
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.shared.clone())
    }
}

/// Builds a [`TimeoutLayer`].
///
/// ```
/// use buttress_core::timeout::TimeoutLayer;
/// use std::time::Duration;
///
/// let layer = TimeoutLayer::builder()
///     .limit(Duration::from_millis(800))
///     .name("inventory")
///     .build()
///     .unwrap();
/// assert_eq!(layer.limit(), Some(Duration::from_millis(800)));
/// assert!(TimeoutLayer::builder().limit(Duration::ZERO).build().is_err());
/// ```
#[derive(Default)]
pub struct TimeoutLayerBuilder {
    limit: Option<Duration>,
    name: Option<Arc<str>>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl TimeoutLayerBuilder {
    /// The layer's own limit. Without one, only request deadlines apply.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The name the layer reports under (default `timeout`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Report to this sink instead of the global one.
    pub fn sink(mut self, sink: Arc<dyn TelemetrySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Validates and builds the layer, registering it with telemetry.
    pub fn build(self) -> Result<TimeoutLayer, ConfigError> {
        if self.limit == Some(Duration::ZERO) {
            return Err(ConfigError::new("limit", "must be greater than zero"));
        }
        let name = self.name.unwrap_or_else(|| Arc::from("timeout"));
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Timeout, name),
            None => Telemetry::register(LayerKind::Timeout, name),
        };
        Ok(TimeoutLayer {
            shared: Arc::new(Shared {
                limit: self.limit,
                telemetry,
            }),
        })
    }
}

impl std::fmt::Debug for TimeoutLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutLayerBuilder")
            .field("limit", &self.limit)
            .field("name", &self.name)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}
