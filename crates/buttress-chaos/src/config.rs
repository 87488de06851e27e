//! [`ChaosConfig`]: the layer's settings as data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use buttress_core::config::{ConfigError, check_duration};
use buttress_core::context::FaultAbort;
use buttress_core::layer::{BuildEnv, LayerConfig};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::LayerKind;

use crate::directive::{MAX_DELAY, is_dependency_name};
use crate::latency::Latency;
use crate::layer::ChaosLayer;
use crate::shared::{Counters, Rated, Shared};

/// The default cap on concurrently active faults.
pub const DEFAULT_MAX_ACTIVE: usize = 100;

/// The default longest delay.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// Aborts at a rate: [`ChaosConfig::abort`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortConfig {
    /// The share of calls aborted, 0 to 100.
    pub percent: f64,
    /// What they fail with: an HTTP status (400 to 599), a gRPC code
    /// other than `OK`, or a transport error. In a file, the directive
    /// syntax: `"503"`, `"grpc:14"`, `"grpc:UNAVAILABLE"` or `"reset"`.
    #[serde(with = "abort_text")]
    pub with: FaultAbort,
}

/// Delays at a rate: [`ChaosConfig::delay`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayConfig {
    /// The share of calls delayed, 0 to 100.
    pub percent: f64,
    /// How long.
    pub latency: Latency,
}

/// A [`ChaosLayer`]'s settings, as data. It loads from TOML or JSON, durations written as `"250ms"`; missing
/// fields keep the defaults, and the defaults inject nothing.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `chaos` | the dependency's name: what directives name and telemetry reports |
/// | `abort` | none | aborts a share of calls (`percent`, `with`) |
/// | `delay` | none | delays a share of calls (`percent`, `latency`) |
/// | `directives` | `false` | honour trusted `x-buttress-fault` directives naming this dependency |
/// | `seed` | random | the seed of the draws, for repeatable runs |
/// | `max_delay` | 30 s | the longest delay, 1 ms to 60 s |
/// | `max_active` | 100 | the most faults active at once |
/// | `enabled` | `true` | whether the layer starts enabled ([`ChaosHandle`](crate::ChaosHandle) switches it) |
///
/// ```toml
/// name = "recommendations"
/// directives = true
/// seed = 7
/// [abort]
/// percent = 2.0
/// with = "503"
/// [delay]
/// percent = 10.0
/// latency = { kind = "exponential", mean = "80ms" }
/// ```
///
/// ```
/// use buttress_chaos::ChaosLayer;
/// use buttress_chaos::config::{AbortConfig, ChaosConfig};
/// use buttress_core::context::FaultAbort;
/// use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
/// use buttress_core::GrpcCode;
///
/// let config = ChaosConfig {
///     abort: Some(AbortConfig { percent: 2.0, with: FaultAbort::Grpc(GrpcCode::Unavailable) }),
///     ..ChaosConfig::default()
/// };
/// // Built for a dependency's stack, it takes the stack's name.
/// let layer = config.build_in(&BuildEnv::named("inventory")).unwrap();
/// assert_eq!(layer.handle().id().name(), "inventory");
///
/// let bad = ChaosConfig {
///     abort: Some(AbortConfig { percent: 2.0, with: FaultAbort::HttpStatus(http::StatusCode::OK) }),
///     ..ChaosConfig::default()
/// };
/// assert_eq!(ChaosLayer::from_config(&bad).unwrap_err().field(), "abort.with");
/// let loaded: ChaosConfig = toml::from_str("name = \"recs\"\nabort = { percent = 2.0, with = \"grpc:UNAVAILABLE\" }").unwrap();
/// assert_eq!(loaded.abort, config.abort);
/// assert!(toml::from_str::<ChaosConfig>("abort = { percent = 2.0, with = \"200\" }").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    /// The dependency's name, as directives name it: 1 to 64 of
    /// `A-Z a-z 0-9 - _ .`.
    pub name: Option<String>,
    /// Aborts a share of calls.
    pub abort: Option<AbortConfig>,
    /// Delays a share of calls. A call can be both delayed and aborted
    /// (the abort comes after the delay).
    pub delay: Option<DelayConfig>,
    /// Honour `x-buttress-fault` directives naming this dependency, read
    /// from the request's [`RequestContext`](buttress_core::RequestContext).
    /// Trust and length are the context layer's business: it carries the
    /// header only from callers its
    /// [`TrustPolicy`](buttress_core::TrustPolicy) trusts.
    pub directives: bool,
    /// The seed of the draws, for reproducible runs; `None` draws one at
    /// random.
    pub seed: Option<u64>,
    /// The longest delay injected, 1 ms to 60 s. A directive asking for
    /// more is ignored; a distribution's draws are capped at it.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// The most faults active at once: past it, calls pass untouched, so
    /// a burst of faulted requests cannot pile up delayed tasks without
    /// bound.
    pub max_active: usize,
    /// Whether the layer starts enabled ([`ChaosHandle`](crate::ChaosHandle)
    /// switches it at run time).
    pub enabled: bool,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            name: None,
            abort: None,
            delay: None,
            directives: false,
            seed: None,
            max_delay: DEFAULT_MAX_DELAY,
            max_active: DEFAULT_MAX_ACTIVE,
            enabled: true,
        }
    }
}

impl LayerConfig for ChaosConfig {
    type Layer = ChaosLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        check_duration(
            "max_delay",
            self.max_delay,
            Duration::from_millis(1)..=MAX_DELAY,
        )?;
        if self.max_active == 0 {
            return Err(ConfigError::new("max_active", "must be at least 1"));
        }
        if let Some(abort) = &self.abort {
            check_percent(abort.percent).map_err(|e| e.in_section("abort"))?;
            check_abort(abort.with)?;
        }
        if let Some(delay) = &self.delay {
            // `delay.latency.max`: the path a file writes it at.
            delay
                .latency
                .validate(self.max_delay)
                .map_err(|e| e.in_section("delay"))?;
            check_percent(delay.percent).map_err(|e| e.in_section("delay"))?;
        }
        Ok(())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<ChaosLayer, ConfigError> {
        self.validate()?;
        // Directives name the dependency by the name it reports under, so
        // a name taken from the environment must be one they can spell.
        check_name(&env.name_for(LayerKind::Chaos, self.name.as_deref()))?;
        let rated = |percent: f64| percent / 100.0;
        Ok(ChaosLayer {
            shared: Arc::new(Shared {
                enabled: AtomicBool::new(self.enabled),
                abort: self.abort.map(|abort| Rated {
                    fraction: rated(abort.percent),
                    what: abort.with,
                }),
                delay: self.delay.map(|delay| Rated {
                    fraction: rated(delay.percent),
                    what: delay.latency,
                }),
                directives: self.directives,
                max_delay: self.max_delay,
                max_active: self.max_active,
                active: AtomicUsize::new(0),
                draws: SharedRng::seeded_or_random(self.seed),
                counters: Counters::default(),
                telemetry: env.telemetry(LayerKind::Chaos, self.name.as_deref()),
            }),
        })
    }
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    if is_dependency_name(name.as_bytes()) {
        Ok(())
    } else {
        Err(ConfigError::new(
            "name",
            "must be 1 to 64 of A-Z a-z 0-9 - _ . (directives name it)",
        ))
    }
}

fn check_percent(percent: f64) -> Result<(), ConfigError> {
    if (0.0..=100.0).contains(&percent) {
        Ok(())
    } else {
        Err(ConfigError::new("percent", "must be 0 to 100"))
    }
}

fn check_abort(abort: FaultAbort) -> Result<(), ConfigError> {
    match abort {
        FaultAbort::HttpStatus(status) if !(400..=599).contains(&status.as_u16()) => Err(
            ConfigError::new("abort.with", "an HTTP status must be 400 to 599"),
        ),
        FaultAbort::Grpc(buttress_core::GrpcCode::Ok) => {
            Err(ConfigError::new("abort.with", "a gRPC code must not be OK"))
        }
        _ => Ok(()),
    }
}

/// An abort in a file: the directive syntax (`"503"`, `"grpc:UNAVAILABLE"`,
/// `"reset"`), so a config and a header directive read alike.
mod abort_text {
    use buttress_core::context::FaultAbort;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::directive::parse::parse_abort;

    pub(super) fn serialize<S: Serializer>(
        abort: &FaultAbort,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match abort {
            FaultAbort::HttpStatus(status) => serializer.serialize_str(status.as_str()),
            FaultAbort::Grpc(code) => serializer.collect_str(&format_args!("grpc:{}", code.name())),
            FaultAbort::Transport => serializer.serialize_str("reset"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FaultAbort, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_abort(text.as_bytes()).map_err(|_| {
            D::Error::custom("must be a 4xx/5xx status, grpc:<code> (not OK) or reset")
        })
    }
}
