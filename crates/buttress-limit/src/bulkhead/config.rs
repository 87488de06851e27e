//! Bulkhead settings, their builder and validation.

use std::sync::Arc;
use std::time::Duration;

use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};

use super::layer::BulkheadLayer;
use super::scope::{Global, PerKey};
use crate::ConfigError;
use crate::permit::QueueOrder;

/// The longest wait any queue of this crate accepts: anything longer is a
/// configuration mistake, and a wait must have a bound (DESIGN.md
/// contract 3).
pub(crate) const MAX_WAIT_CEILING: Duration = Duration::from_secs(3600);

/// A bulkhead's settings, as data (loadable with the `serde` feature,
/// durations written like `"250ms"`).
///
/// ```
/// use buttress_limit::{BulkheadConfig, BulkheadLayer, QueueOrder};
/// use std::time::Duration;
///
/// let config = BulkheadConfig {
///     name: "payments".into(),
///     max_concurrent: 32,
///     queue_capacity: 64,
///     max_wait: Duration::from_millis(50),
///     order: QueueOrder::Lifo,
///     ..BulkheadConfig::default()
/// };
/// let layer = BulkheadLayer::from_config(config).unwrap();
/// assert_eq!(layer.in_flight(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct BulkheadConfig {
    /// The name telemetry reports under (`"payments"`, `"inventory"`).
    pub name: String,
    /// Calls allowed at once (per key, for a keyed bulkhead). At least 1.
    pub max_concurrent: usize,
    /// Callers that may wait for a slot; 0 rejects at once when full.
    pub queue_capacity: usize,
    /// The longest a caller waits for a slot (never past its request's
    /// deadline); zero rejects at once when full. At most one hour.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_wait: Duration,
    /// Which waiter is served first.
    pub order: QueueOrder,
    /// The retry hint given with a rejection.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub retry_after: Duration,
    /// For a keyed bulkhead, the most keys tracked at once; beyond that,
    /// new keys share one overflow bulkhead.
    pub max_keys: usize,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            name: "bulkhead".into(),
            max_concurrent: 64,
            queue_capacity: 0,
            max_wait: Duration::ZERO,
            order: QueueOrder::Fifo,
            retry_after: Duration::from_secs(1),
            max_keys: 1024,
        }
    }
}

impl BulkheadConfig {
    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::new("max_concurrent", "must be at least 1"));
        }
        if self.max_wait > MAX_WAIT_CEILING {
            return Err(ConfigError::new("max_wait", "must be at most one hour"));
        }
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        Ok(())
    }
}

/// What every clone of a bulkhead shares besides its permits.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: BulkheadConfig,
    pub(crate) telemetry: Telemetry,
}

/// Builds a [`BulkheadLayer`]; see [`BulkheadLayer::builder`].
#[derive(Clone, Default)]
pub struct BulkheadBuilder {
    config: BulkheadConfig,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl std::fmt::Debug for BulkheadBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadBuilder")
            .field("config", &self.config)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

impl BulkheadBuilder {
    /// A builder starting from `config`.
    pub fn from_config(config: BulkheadConfig) -> Self {
        BulkheadBuilder { config, sink: None }
    }

    /// The name telemetry reports under.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Calls allowed at once.
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.config.max_concurrent = max;
        self
    }

    /// A wait queue of `capacity` callers, each waiting at most `max_wait`.
    pub fn queue(mut self, capacity: usize, max_wait: Duration) -> Self {
        self.config.queue_capacity = capacity;
        self.config.max_wait = max_wait;
        self
    }

    /// Which waiter is served first.
    pub fn order(mut self, order: QueueOrder) -> Self {
        self.config.order = order;
        self
    }

    /// The retry hint given with a rejection.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// For a keyed bulkhead, the most keys tracked at once.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.config.max_keys = max_keys;
        self
    }

    /// Reports to `sink` instead of the process-wide sink.
    pub fn telemetry_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    fn settings(self) -> Result<Arc<Settings>, ConfigError> {
        self.config.validate()?;
        let name: Arc<str> = self.config.name.as_str().into();
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Bulkhead, name),
            None => Telemetry::register(LayerKind::Bulkhead, name),
        };
        Ok(Arc::new(Settings {
            config: self.config,
            telemetry,
        }))
    }

    /// Builds one bulkhead shared by every request through the layer.
    pub fn build(self) -> Result<BulkheadLayer, ConfigError> {
        let settings = self.settings()?;
        Ok(BulkheadLayer::new(
            Global::new(&settings.config, &settings.telemetry),
            settings,
        ))
    }

    /// Builds a bulkhead per key: `key` maps a request to its key (tenant,
    /// route, host), and each key gets its own `max_concurrent` and queue.
    /// Keys are held in core's bounded keyed map (`max_keys`); an idle
    /// key's bulkhead is evicted first when it is full.
    ///
    /// ```
    /// use buttress_limit::BulkheadLayer;
    ///
    /// let per_route = BulkheadLayer::builder()
    ///     .max_concurrent(8)
    ///     .build_keyed(|req: &http::Request<()>| {
    ///         if req.uri().path().starts_with("/payments") { "payments" } else { "other" }
    ///     })
    ///     .unwrap();
    /// assert_eq!(per_route.in_flight_of("payments"), 0);
    /// ```
    pub fn build_keyed<F, K, Req>(self, key: F) -> Result<BulkheadLayer<PerKey<F, K>>, ConfigError>
    where
        F: Fn(&Req) -> K,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        let settings = self.settings()?;
        let scope = PerKey::new(key, &settings.config, &settings.telemetry);
        Ok(BulkheadLayer::new(scope, settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cores_config_error() {
        let err: buttress_core::config::ConfigError = BulkheadLayer::builder()
            .max_concurrent(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_concurrent");
        assert_eq!(err.to_string(), "max_concurrent: must be at least 1");
    }
}
