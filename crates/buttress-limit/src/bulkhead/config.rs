//! The bulkhead's configuration, its validation and its builder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_core::clock;

use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};
use buttress_core::telemetry::{LayerKind, Telemetry};

use super::layer::BulkheadLayer;
use super::scope::{Global, PerKey};
use crate::ConfigError;
use crate::permit::QueueOrder;

/// A bulkhead's configuration, as data (loadable from TOML or JSON,
/// durations written like `"250ms"`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `bulkhead` | what it reports under |
/// | `max_concurrent` | 64 | calls at once (per key, for a keyed bulkhead) |
/// | `queue_capacity` | 0 | callers that may wait for a slot |
/// | `max_wait` | 0 | the longest wait for a slot, at most a day |
/// | `order` | FIFO | which waiter is served first |
/// | `retry_after` | 1 s | the retry hint of a rejection |
/// | `max_keys` | 1024 | keys a keyed bulkhead tracks at once |
/// | `max_total` | `max_keys × max_concurrent` | calls in flight or queued across every key of a keyed bulkhead |
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::{BulkheadConfig, BulkheadLayer, QueueOrder};
/// use std::time::Duration;
///
/// let config = BulkheadConfig {
///     name: Some("payments".into()),
///     max_concurrent: 32,
///     queue_capacity: 64,
///     max_wait: Duration::from_millis(50),
///     order: QueueOrder::Lifo,
///     ..BulkheadConfig::default()
/// };
/// let layer = BulkheadLayer::from_config(&config).unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "payments");
/// assert_eq!((handle.in_flight(), handle.max_concurrent()), (0, 32));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkheadConfig {
    /// The name the layer reports under (`"payments"`, `"inventory"`);
    /// `None`: the stack's name, else `bulkhead`.
    pub name: Option<String>,
    /// Calls allowed at once (per key, for a keyed bulkhead). At least 1.
    pub max_concurrent: usize,
    /// Callers that may wait for a slot; 0 rejects at once when full.
    pub queue_capacity: usize,
    /// The longest a caller waits for a slot (never past its request's
    /// deadline); zero rejects at once when full. At most a day.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Which waiter is served first.
    pub order: QueueOrder,
    /// The retry hint given with a rejection.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// For a keyed bulkhead, the most keys tracked at once; beyond that,
    /// an idle key's bulkhead is evicted first.
    pub max_keys: usize,
    /// For a keyed bulkhead, the most calls in flight or queued at once
    /// across every key; `None`: `max_keys × max_concurrent`, all the
    /// calls the tracked keys could hold, so that the cap changes no limit
    /// a config had before it. At the cap a call is refused at once with
    /// [`Reason::BulkheadFull`](buttress_core::Reason::BulkheadFull),
    /// whatever its key; below it a new key is always admitted, however
    /// many keys hold calls open. With `max_total ≤ max_keys` every key
    /// gets a bulkhead of its own (a busy key is never evicted, and there
    /// cannot be more busy keys than calls); above it, once `max_keys`
    /// keys are busy, new keys share one overflow bulkhead that only the
    /// cap limits. At least 1. Unused by a global bulkhead.
    pub max_total: Option<usize>,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            name: None,
            max_concurrent: 64,
            queue_capacity: 0,
            max_wait: Duration::ZERO,
            order: QueueOrder::Fifo,
            retry_after: Duration::from_secs(1),
            max_keys: 1024,
            max_total: None,
        }
    }
}

impl BulkheadConfig {
    /// The cap on calls across every key of a keyed bulkhead: `max_total`,
    /// else `max_keys × max_concurrent`.
    ///
    /// ```
    /// use buttress_limit::BulkheadConfig;
    ///
    /// assert_eq!(BulkheadConfig::default().effective_max_total(), 1024 * 64);
    /// let config = BulkheadConfig { max_total: Some(256), ..BulkheadConfig::default() };
    /// assert_eq!(config.effective_max_total(), 256);
    /// ```
    pub fn effective_max_total(&self) -> usize {
        self.max_total
            .unwrap_or(self.max_keys.saturating_mul(self.max_concurrent))
    }
}

impl LayerConfig for BulkheadConfig {
    type Layer = BulkheadLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        if self.max_concurrent == 0 {
            return Err(ConfigError::new("max_concurrent", "must be at least 1"));
        }
        check_duration("max_wait", self.max_wait, Duration::ZERO..=MAX_DURATION)?;
        check_duration(
            "retry_after",
            self.retry_after,
            Duration::ZERO..=MAX_DURATION,
        )?;
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        if self.max_total == Some(0) {
            return Err(ConfigError::new("max_total", "must be at least 1"));
        }
        Ok(())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<BulkheadLayer, ConfigError> {
        let settings = settings(self.clone(), env)?;
        Ok(BulkheadLayer::new(Global::new(&settings), settings))
    }
}

/// What every clone of a bulkhead shares besides its permits.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The config the layer was built with: what shapes its pools (queue
    /// capacity and order, the key space) is fixed from it.
    pub(crate) config: BulkheadConfig,
    pub(crate) telemetry: Telemetry,
    /// `max_wait` and `retry_after` now, in nanoseconds: a handle may
    /// change them while requests run (see `BulkheadHandle::reconfigure`).
    max_wait: AtomicU64,
    retry_after: AtomicU64,
    /// The config as last applied, for the handle to show.
    pub(crate) current: Mutex<BulkheadConfig>,
}

impl Settings {
    /// The longest wait for a slot now.
    #[inline]
    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.max_wait.load(Ordering::Relaxed))
    }

    /// The retry hint of a refusal now.
    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.retry_after.load(Ordering::Relaxed))
    }

    /// Takes a validated config's wait and hint.
    pub(crate) fn set_waits(&self, config: &BulkheadConfig) {
        self.max_wait
            .store(clock::nanos(config.max_wait), Ordering::Relaxed);
        self.retry_after
            .store(clock::nanos(config.retry_after), Ordering::Relaxed);
    }
}

/// Validates `config` and registers the layer's telemetry in `env`.
fn settings(config: BulkheadConfig, env: &BuildEnv) -> Result<Arc<Settings>, ConfigError> {
    config.validate()?;
    let telemetry = env.telemetry(LayerKind::Bulkhead, config.name.as_deref());
    let settings = Settings {
        current: Mutex::new(config.clone()),
        config,
        telemetry,
        max_wait: AtomicU64::new(0),
        retry_after: AtomicU64::new(0),
    };
    settings.set_waits(&settings.config);
    let settings = Arc::new(settings);
    settings
        .telemetry
        .describe_config(&settings, |s| &s.current);
    Ok(settings)
}

/// Builds a [`BulkheadLayer`], one bulkhead for every request or
/// ([`build_keyed`](Self::build_keyed)) one per key.
///
/// Its settings are a [`BulkheadConfig`], all data: set them with
/// `.configure(|c| ..)` or `.with_config(..)`; `.name(..)`, `.sink(..)`
/// and `.env(..)` come from [`LayerBuilder`] too. What is not data — the
/// key closure of a keyed bulkhead — is given to `build_keyed`.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_limit::{BulkheadConfig, BulkheadLayer, QueueOrder};
/// use std::time::Duration;
///
/// let layer = BulkheadLayer::builder()
///     .configure(|c| {
///         c.max_concurrent = 16;
///         c.queue_capacity = 32;
///         c.max_wait = Duration::from_millis(50);
///         c.order = QueueOrder::Lifo;
///     })
///     .name("payments")
///     .sink(RecordingSink::new())
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// // Or a whole config at once, as loaded from a file:
/// let config = BulkheadConfig { max_concurrent: 0, ..BulkheadConfig::default() };
/// assert!(BulkheadLayer::builder().with_config(config).build().is_err());
///
/// // One bulkhead per tenant: the key closure is what is not data.
/// let per_tenant = BulkheadLayer::builder()
///     .configure(|c| c.max_concurrent = 4)
///     .name("tenants")
///     .build_keyed(|req: &http::Request<()>| req.headers().get("x-tenant").cloned())
///     .unwrap();
/// assert_eq!(per_tenant.handle().max_concurrent(), 4);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BulkheadLayerBuilder {
    config: BulkheadConfig,
    env: BuildEnv,
}

impl LayerBuilder for BulkheadLayerBuilder {
    type Config = BulkheadConfig;

    fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut BulkheadConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl BulkheadLayerBuilder {
    /// Validates and builds one bulkhead shared by every request through
    /// the layer, registering it with telemetry.
    pub fn build(self) -> Result<BulkheadLayer, ConfigError> {
        self.config.build_in(&self.env)
    }

    /// Builds a bulkhead per key: `key` maps a request to its key (tenant,
    /// route, host), and each key gets its own `max_concurrent` and queue.
    /// Keys are held in core's bounded keyed map (`max_keys`); an idle
    /// key's bulkhead is evicted first when it is full. Calls across every
    /// key (in flight or queued) are capped at `max_total` (default
    /// `max_keys × max_concurrent`): below the cap a new key is always
    /// admitted — in a bulkhead of its own while fewer than `max_keys`
    /// keys are busy — and at the cap every call is refused with
    /// `BulkheadFull`.
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_limit::BulkheadLayer;
    ///
    /// let per_route = BulkheadLayer::builder()
    ///     .configure(|c| c.max_concurrent = 8)
    ///     .build_keyed(|req: &http::Request<()>| {
    ///         if req.uri().path().starts_with("/payments") { "payments" } else { "other" }
    ///     })
    ///     .unwrap();
    /// assert_eq!(per_route.handle().in_flight_of("payments"), 0);
    /// ```
    pub fn build_keyed<F, K, Req>(self, key: F) -> Result<BulkheadLayer<PerKey<F, K>>, ConfigError>
    where
        F: Fn(&Req) -> K,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        let settings = settings(self.config, &self.env)?;
        let scope = PerKey::new(key, &settings);
        Ok(BulkheadLayer::new(scope, settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cores_config_error() {
        let err: buttress_core::config::ConfigError = BulkheadLayer::builder()
            .configure(|c| c.max_concurrent = 0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_concurrent");
        assert_eq!(err.to_string(), "max_concurrent: must be at least 1");
    }
}
