//! [`TimeoutLayer`], its config and its builder.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tower_layer::Layer;

use super::Timeout;
use crate::config::{ConfigError, MAX_DURATION, check_duration};
use crate::layer::{
    BuildEnv, Bypass, ConfigBuilder, LayerConfig, LayerHandle, Reconfigure, check_name,
};
use crate::telemetry::{LayerId, LayerKind, Telemetry};

/// What every [`Timeout`] built by one layer shares.
#[derive(Debug)]
pub(super) struct Shared {
    /// The limit in nanoseconds, `NO_LIMIT` for none: an atomic so that a
    /// handle can change it while requests run.
    limit: AtomicU64,
    pub(super) telemetry: Telemetry,
}

/// `Shared::limit` when only deadlines end calls.
const NO_LIMIT: u64 = u64::MAX;

impl Shared {
    /// The limit now.
    #[inline]
    pub(super) fn limit(&self) -> Option<Duration> {
        match self.limit.load(Ordering::Relaxed) {
            NO_LIMIT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    fn set_limit(&self, limit: Option<Duration>) {
        let nanos = limit.map_or(NO_LIMIT, |limit| {
            crate::clock::nanos(limit).min(NO_LIMIT - 1)
        });
        self.limit.store(nanos, Ordering::Relaxed);
    }
}

/// The timeout's configuration, as data.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `timeout` | what it reports under |
/// | `limit` | none | the layer's own limit, 1 ns to 1 day; without one only request deadlines apply |
///
/// ```
/// use buttress_core::timeout::TimeoutConfig;
/// use std::time::Duration;
///
/// let config: TimeoutConfig = toml::from_str(r#"limit = "800ms""#).unwrap();
/// assert_eq!(config.limit, Some(Duration::from_millis(800)));
/// // In a stack's section, the limit alone: `timeout = "800ms"`.
/// #[derive(serde::Deserialize)]
/// struct Section { timeout: TimeoutConfig }
/// let section: Section = toml::from_str(r#"timeout = "800ms""#).unwrap();
/// assert_eq!(section.timeout, config);
/// assert!(toml::from_str::<TimeoutConfig>(r#"limt = "1s""#).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// The name the layer reports under.
    pub name: Option<String>,
    /// The layer's own limit; `None` enforces only request deadlines.
    #[serde(with = "humantime_serde")]
    pub limit: Option<Duration>,
}

/// A config with this limit, for a stack's `.timeout(Duration::from_secs(2))`.
impl From<Duration> for TimeoutConfig {
    fn from(limit: Duration) -> Self {
        TimeoutConfig {
            name: None,
            limit: Some(limit),
        }
    }
}

impl LayerConfig for TimeoutConfig {
    type Layer = TimeoutLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self.limit {
            Some(limit) => check_duration("limit", limit, Duration::from_nanos(1)..=MAX_DURATION),
            None => Ok(()),
        }
    }

    fn build_in(&self, env: &BuildEnv) -> Result<TimeoutLayer, ConfigError> {
        self.validate()?;
        let telemetry = env.telemetry(LayerKind::Timeout, self.name.as_deref());
        Ok(TimeoutLayer {
            shared: {
                let shared = Shared {
                    limit: AtomicU64::new(NO_LIMIT),
                    telemetry,
                };
                shared.set_limit(self.limit);
                let shared = Arc::new(shared);
                shared.telemetry.describe_with(&shared, |shared| {
                    crate::telemetry::settings_json(&TimeoutConfig {
                        name: Some(shared.telemetry.layer().name().to_owned()),
                        limit: shared.limit(),
                    })
                });
                shared
            },
        })
    }
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
    /// reporting to the global telemetry sink as `timeout`; an error if
    /// `limit` is zero or longer than a day.
    pub fn new(limit: Duration) -> Result<Self, ConfigError> {
        TimeoutConfig::from(limit).build()
    }

    /// A layer enforcing only the request's deadline, if it has one.
    pub fn deadline_only() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("a deadline-only layer has nothing to validate"))
    }

    /// A builder, to set the limit, name the layer or give it its own sink
    /// (see [`LayerBuilder`](crate::layer::LayerBuilder)).
    pub fn builder() -> TimeoutLayerBuilder {
        TimeoutLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &TimeoutConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    /// The handle that reads the layer's settings.
    pub fn handle(&self) -> TimeoutHandle {
        TimeoutHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, Some(self.shared.clone()))
    }
}

impl<S> Bypass<S> for TimeoutLayer {
    /// No limit and no deadline enforced.
    fn bypass(inner: S) -> Timeout<S> {
        Timeout::new(inner, None)
    }
}

/// Reads a [`TimeoutLayer`]'s settings.
#[derive(Debug, Clone)]
pub struct TimeoutHandle {
    shared: Arc<Shared>,
}

impl TimeoutHandle {
    /// The layer's own limit, if it has one.
    pub fn limit(&self) -> Option<Duration> {
        self.shared.limit()
    }
}

impl LayerHandle for TimeoutHandle {
    fn id(&self) -> &LayerId {
        self.shared.telemetry.layer()
    }
}

impl Reconfigure for TimeoutHandle {
    type Config = TimeoutConfig;

    fn config(&self) -> TimeoutConfig {
        TimeoutConfig {
            name: Some(self.id().name().to_owned()),
            limit: self.limit(),
        }
    }

    /// A new limit applies to calls made from now on; calls running keep
    /// the end they were given.
    fn check(&self, config: &TimeoutConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())
    }

    fn reconfigure(&self, config: &TimeoutConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        self.shared.set_limit(config.limit);
        Ok(())
    }
}

/// Builds a [`TimeoutLayer`]: every setting is data, so its builder is
/// core's [`ConfigBuilder`].
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::timeout::TimeoutLayer;
/// use std::time::Duration;
///
/// let layer = TimeoutLayer::builder()
///     .configure(|c| c.limit = Some(Duration::from_millis(800)))
///     .name("inventory")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().limit(), Some(Duration::from_millis(800)));
/// assert!(TimeoutLayer::builder().configure(|c| c.limit = Some(Duration::ZERO)).build().is_err());
/// ```
pub type TimeoutLayerBuilder = ConfigBuilder<TimeoutConfig>;
