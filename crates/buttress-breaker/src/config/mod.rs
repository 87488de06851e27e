//! The breaker's configuration, as data.
//!
//! [`BreakerConfig`] holds every setting with documented defaults and
//! loads from TOML or JSON with human durations
//! (`"30s"`, `"250ms"`). It is the breaker's
//! [`LayerConfig`](buttress_core::layer::LayerConfig): it validates itself
//! and builds the layer. [`CircuitBreakerLayerBuilder`] holds a
//! `BreakerConfig` too — set in code with `.configure(|c| ..)` or
//! `.with_config(..)` — and adds only what is not data: the classifier
//! and a key extractor. Either way, building validates the whole config
//! and says which field is wrong.

mod builder;

use std::sync::Arc;
use std::time::Duration;

use buttress_core::backoff::{Backoff, Jitter};
use buttress_core::clock::nanos;
use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerConfig};
use buttress_core::telemetry::LayerKind;

pub use self::builder::CircuitBreakerLayerBuilder;
use crate::keyed::key_bytes;
use crate::layer::CircuitBreakerLayer;
use crate::machine::probes::MAX_PROBES;
use crate::machine::settings::{Settings, SlowCalls, WindowShape};
use crate::shared::Policy;
use crate::window::count::MAX_SIZE;
use crate::window::time::MAX_BUCKETS;
pub use buttress_core::config::ConfigError;

/// The most memory the keys of one keyed breaker take together: 64 MiB.
///
/// A keyed breaker holds up to [`BreakerConfig::max_keys`] breakers, each
/// with a window of its own, so its memory is `max_keys` ×
/// [`BreakerConfig::key_memory`] — a count window of a million calls for
/// each of 1,000 keys would be a gigabyte. Building a keyed breaker
/// ([`BreakerConfig::validate_keyed`]) refuses a config past this bound.
/// With the default 100-call window that is up to about 31,000 keys; with
/// 1,000 keys, count windows of up to about 65,000 calls.
pub const MAX_KEYED_MEMORY: usize = 64 * 1024 * 1024;

/// The window over which rates are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowConfig {
    /// Exactly the last `size` calls (1 to 1,000,000).
    Count {
        /// How many calls the window holds.
        size: u32,
    },
    /// The last `duration`, split into `buckets` buckets (1 to 1,000);
    /// calls age out one bucket at a time.
    Time {
        /// The span of the window.
        #[serde(with = "humantime_serde")]
        duration: Duration,
        /// How many buckets the span is split into.
        buckets: u32,
    },
}

impl Default for WindowConfig {
    /// A count window of the last 100 calls.
    fn default() -> Self {
        WindowConfig::Count { size: 100 }
    }
}

/// Slow-call tracking: calls that take longer than `threshold` are slow,
/// and a slow-call rate at or above `rate` percent trips the breaker as a
/// failure rate would.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowCallConfig {
    /// A call taking longer than this is slow.
    #[serde(with = "humantime_serde")]
    pub threshold: Duration,
    /// The slow-call rate, in percent (0, 100], that trips the breaker.
    pub rate: f64,
}

/// How the open wait grows on consecutive re-opens (half-open probes that
/// failed again), so that a dependency that stays down is probed less and
/// less often. The defaults keep the wait constant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// The wait is multiplied by this on every consecutive re-open (at
    /// least 1; default 1, no growth).
    pub multiplier: f64,
    /// The wait never grows past this (default 5 minutes; at least
    /// `wait`, at most a day), jitter included.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Each wait is scaled by a random factor in `1 ± jitter` (0 to < 1;
    /// default 0), so that breakers tripped together do not probe
    /// together.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            multiplier: 1.0,
            max_wait: Duration::from_secs(300),
            jitter: 0.0,
        }
    }
}

/// Every setting of a circuit breaker. `Default` gives the documented
/// defaults; see the [crate documentation](crate) for what each does.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `breaker` | what it reports under |
/// | `window` | the last 100 calls | what rates are computed over |
/// | `failure_rate` | 50 | the failure rate (percent) that trips it |
/// | `slow_calls` | off | the slow-call threshold and rate that trip it |
/// | `minimum_calls` | 20 | calls in the window before rates are judged |
/// | `wait` | 30 s | how long it stays open (more than zero, at most a day) |
/// | `backoff` | constant | how the wait grows on consecutive re-opens |
/// | `permitted_probes` | 5 | probe calls in half-open |
/// | `metrics_only` | false | shadow mode |
/// | `seed` | random | the jitter's seed |
/// | `max_keys` | 1,000 | keys held by a keyed breaker (their memory at most [`MAX_KEYED_MEMORY`]) |
///
/// ```
/// use buttress_breaker::{BreakerConfig, CircuitBreakerLayer, State, WindowConfig};
/// use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
/// use std::time::Duration;
///
/// let config = BreakerConfig {
///     window: WindowConfig::Time { duration: Duration::from_secs(60), buckets: 12 },
///     failure_rate: 25.0,
///     ..BreakerConfig::default()
/// };
/// let layer = CircuitBreakerLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().state(), State::Closed);
/// assert_eq!(layer.handle().id().name(), "breaker");
///
/// // Built in a stack's environment, an unnamed breaker takes its name.
/// let layer = config.build_in(&BuildEnv::named("payments")).unwrap();
/// assert_eq!(layer.handle().id().name(), "payments");
/// ```
///
/// From TOML:
///
/// ```
/// use buttress_breaker::BreakerConfig;
/// use std::time::Duration;
///
/// let config: BreakerConfig = toml::from_str(r#"
///     failure_rate = 40.0
///     wait = "10s"
///     backoff = { multiplier = 2.0, max_wait = "2m" }
///     window = { kind = "time", duration = "30s", buckets = 10 }
/// "#).unwrap();
/// assert_eq!(config.wait, Duration::from_secs(10));
/// assert_eq!(config.name, None);
/// assert!(toml::from_str::<BreakerConfig>(r#"wiat = "10s""#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// The name the breaker reports under; `None` (the default) takes the
    /// name of the stack or environment it is built in, else `breaker`.
    pub name: Option<String>,
    /// The window rates are computed over (default: the last 100 calls).
    pub window: WindowConfig,
    /// The failure rate, in percent (0, 100], that trips the breaker
    /// (default 50).
    pub failure_rate: f64,
    /// Slow-call tracking (default: off).
    pub slow_calls: Option<SlowCallConfig>,
    /// The fewest calls in the window before rates are judged (default
    /// 20; at most the size of a count window).
    pub minimum_calls: u32,
    /// How long the breaker stays open before probing (default 30 s; more
    /// than zero, at most a day).
    #[serde(with = "humantime_serde")]
    pub wait: Duration,
    /// How the wait grows on consecutive re-opens (default: it does not).
    pub backoff: BackoffConfig,
    /// Probe calls admitted in half-open, in total and at most in flight
    /// (default 5, at most 1,000).
    pub permitted_probes: u32,
    /// Shadow mode: record and count what would be rejected, never reject
    /// (default false).
    pub metrics_only: bool,
    /// Seed of the jitter's random numbers; random when absent. Set it for
    /// reproducible simulations.
    pub seed: Option<u64>,
    /// For per-key breakers: the most keys held at once (default 1,000).
    /// A keyed breaker's keys take at most `max_keys` ×
    /// [`key_memory`](Self::key_memory) bytes, which must not pass
    /// [`MAX_KEYED_MEMORY`] (see [`validate_keyed`](Self::validate_keyed)).
    pub max_keys: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            name: None,
            window: WindowConfig::default(),
            failure_rate: 50.0,
            slow_calls: None,
            minimum_calls: 20,
            wait: Duration::from_secs(30),
            backoff: BackoffConfig::default(),
            permitted_probes: 5,
            metrics_only: false,
            seed: None,
            max_keys: 1_000,
        }
    }
}

fn is_rate(rate: f64) -> bool {
    rate > 0.0 && rate <= 100.0
}

/// The shortest duration setting that means anything: zero would be a
/// breaker that never waits, a slow-call threshold every call passes.
const MIN_DURATION: Duration = Duration::from_nanos(1);

impl LayerConfig for BreakerConfig {
    type Layer = CircuitBreakerLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    /// Checks every field; the error names the first one that is wrong.
    ///
    /// ```
    /// use buttress_breaker::BreakerConfig;
    /// use buttress_core::layer::LayerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig { failure_rate: 0.0, ..BreakerConfig::default() };
    /// assert_eq!(config.validate().unwrap_err().field(), "failure_rate");
    /// let config = BreakerConfig { wait: Duration::ZERO, ..BreakerConfig::default() };
    /// assert_eq!(config.validate().unwrap_err().to_string(), "wait: must be greater than zero");
    /// ```
    fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(|_| ())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<CircuitBreakerLayer, ConfigError> {
        Ok(CircuitBreakerLayer::new(
            self.policy_in(env)?,
            self.metrics_only,
            DefaultClassifier::default(),
        ))
    }
}

impl BreakerConfig {
    /// The most bytes one key of a keyed breaker built from this config
    /// holds: its breaker, its window and its map entry (not what the key
    /// itself owns on the heap, a `String`'s bytes say). A count window
    /// adds a byte per call; a time window 16 bytes a bucket up to 512
    /// buckets, 8 past them (packed, see
    /// [`KeyedCircuitBreakerLayer`](crate::KeyedCircuitBreakerLayer)) — so
    /// with any time window a key takes at most 10,240 bytes, under
    /// 16 KiB.
    ///
    /// ```
    /// use buttress_breaker::{BreakerConfig, WindowConfig};
    /// use std::time::Duration;
    ///
    /// let hourly = BreakerConfig {
    ///     window: WindowConfig::Time { duration: Duration::from_secs(3_600), buckets: 1_000 },
    ///     ..BreakerConfig::default()
    /// };
    /// assert!(hourly.key_memory() <= 16 * 1024);
    /// let count = BreakerConfig { window: WindowConfig::Count { size: 10_000 }, ..BreakerConfig::default() };
    /// assert!(count.key_memory() >= 10_000);
    /// ```
    pub fn key_memory(&self) -> usize {
        let window = match self.window {
            WindowConfig::Count { size } => WindowShape::Count { size },
            WindowConfig::Time { buckets, .. } => WindowShape::Time { span: 0, buckets },
        };
        key_bytes(window)
    }

    /// Checks the config for a keyed breaker: every field, as
    /// [`validate`](LayerConfig::validate) does, and that `max_keys` keys
    /// of [`key_memory`](Self::key_memory) bytes fit in
    /// [`MAX_KEYED_MEMORY`]. [`build_keyed`] calls it; call it yourself to
    /// refuse a loaded config before a keyed breaker is built from it.
    ///
    /// The error names `window.size` when a smaller count window would
    /// fit, `max_keys` otherwise.
    ///
    /// ```
    /// use buttress_breaker::{BreakerConfig, WindowConfig};
    ///
    /// let huge = BreakerConfig { window: WindowConfig::Count { size: 1_000_000 }, ..BreakerConfig::default() };
    /// // Fine for a single breaker: one window of a million calls.
    /// buttress_core::layer::LayerConfig::validate(&huge).unwrap();
    /// // For 1,000 keys, a gigabyte: refused.
    /// let err = huge.validate_keyed().unwrap_err();
    /// assert_eq!(err.field(), "window.size");
    /// let fewer = BreakerConfig { max_keys: 50, ..huge };
    /// fewer.validate_keyed().unwrap();
    /// ```
    ///
    /// [`build_keyed`]: CircuitBreakerLayerBuilder::build_keyed
    pub fn validate_keyed(&self) -> Result<(), ConfigError> {
        let settings = self.settings()?;
        let per_key = key_bytes(settings.window);
        if per_key.saturating_mul(self.max_keys) <= MAX_KEYED_MEMORY {
            return Ok(());
        }
        let smaller_window_fits = matches!(settings.window, WindowShape::Count { .. })
            && key_bytes(WindowShape::Count { size: 1 }).saturating_mul(self.max_keys)
                <= MAX_KEYED_MEMORY;
        let field = if smaller_window_fits {
            "window.size"
        } else {
            "max_keys"
        };
        Err(ConfigError::new(
            field,
            format!(
                "a keyed breaker of {} keys of up to {per_key} bytes each (window and \
                 bookkeeping) would pass {MAX_KEYED_MEMORY} bytes (64 MiB) in all; \
                 lower max_keys or the window",
                self.max_keys
            ),
        ))
    }

    /// Validates the config and registers its telemetry in `env`: what
    /// every breaker built from it shares.
    pub(crate) fn policy_in(&self, env: &BuildEnv) -> Result<Arc<Policy>, ConfigError> {
        let settings = self.settings()?;
        let telemetry = env.telemetry(LayerKind::Breaker, self.name.as_deref());
        Ok(Arc::new(Policy::new(
            self.clone(),
            settings,
            self.seed,
            telemetry,
        )))
    }

    /// The core's settings, once validated.
    pub(crate) fn settings(&self) -> Result<Settings, ConfigError> {
        let fail = ConfigError::new;
        let window = match self.window {
            WindowConfig::Count { size } => {
                if size == 0 || size > MAX_SIZE {
                    return Err(fail("window.size", "must be between 1 and 1,000,000"));
                }
                if self.minimum_calls > size {
                    return Err(fail(
                        "minimum_calls",
                        "must not exceed the size of the count window",
                    ));
                }
                WindowShape::Count { size }
            }
            WindowConfig::Time { duration, buckets } => {
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(fail("window.buckets", "must be between 1 and 1,000"));
                }
                check_duration("duration", duration, MIN_DURATION..=MAX_DURATION)
                    .map_err(|e| e.in_section("window"))?;
                if nanos(duration) < u64::from(buckets) * 1_000 {
                    return Err(fail(
                        "window.duration",
                        "must give each bucket at least a microsecond",
                    ));
                }
                WindowShape::Time {
                    span: nanos(duration),
                    buckets,
                }
            }
        };
        if !is_rate(self.failure_rate) {
            return Err(fail("failure_rate", "must be a percentage in (0, 100]"));
        }
        let slow = match self.slow_calls {
            None => None,
            Some(slow) => {
                check_duration("threshold", slow.threshold, MIN_DURATION..=MAX_DURATION)
                    .map_err(|e| e.in_section("slow_calls"))?;
                if !is_rate(slow.rate) {
                    return Err(fail("slow_calls.rate", "must be a percentage in (0, 100]"));
                }
                Some(SlowCalls {
                    after: nanos(slow.threshold),
                    rate: slow.rate,
                })
            }
        };
        if self.minimum_calls == 0 {
            return Err(fail("minimum_calls", "must be at least 1"));
        }
        check_duration("wait", self.wait, MIN_DURATION..=MAX_DURATION)?;
        let backoff = self.backoff;
        if !(backoff.multiplier.is_finite() && backoff.multiplier >= 1.0) {
            return Err(fail("backoff.multiplier", "must be a finite number >= 1"));
        }
        check_duration("max_wait", backoff.max_wait, MIN_DURATION..=MAX_DURATION)
            .map_err(|e| e.in_section("backoff"))?;
        if backoff.max_wait < self.wait {
            return Err(fail("backoff.max_wait", "must not be shorter than wait"));
        }
        if !(0.0..1.0).contains(&backoff.jitter) {
            return Err(fail("backoff.jitter", "must be in [0, 1)"));
        }
        if self.permitted_probes == 0 || self.permitted_probes > MAX_PROBES {
            return Err(fail("permitted_probes", "must be between 1 and 1,000"));
        }
        if self.max_keys == 0 {
            return Err(fail("max_keys", "must be at least 1"));
        }
        Ok(Settings::new(
            window,
            self.failure_rate,
            slow,
            u64::from(self.minimum_calls),
            Backoff::new(self.wait, backoff.max_wait)
                .multiplier(backoff.multiplier)
                .jitter(Jitter::Proportional(backoff.jitter)),
            self.permitted_probes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::layer::LayerBuilder;

    #[test]
    fn errors_are_cores_config_error() {
        let err: buttress_core::config::ConfigError = crate::CircuitBreakerLayer::builder()
            .name("db")
            .configure(|c| c.permitted_probes = 0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "permitted_probes");
        assert_eq!(
            err.in_section("breaker").to_string(),
            "breaker.permitted_probes: must be between 1 and 1,000"
        );
    }

    #[test]
    fn defaults_are_valid_without_a_name() {
        BreakerConfig::default().validate().unwrap();
        let layer = BreakerConfig::default().build().unwrap();
        assert_eq!(
            buttress_core::layer::LayerHandle::id(&layer.handle()).name(),
            "breaker"
        );
    }

    #[test]
    fn the_config_name_wins_over_the_environment_name() {
        use buttress_core::layer::LayerHandle;
        use buttress_core::telemetry::RecordingSink;

        let sink = RecordingSink::new();
        let env = BuildEnv::named("checkout").with_sink(sink.clone());
        let unnamed = BreakerConfig::default().build_in(&env).unwrap();
        assert_eq!(unnamed.handle().id().name(), "checkout");
        let named = crate::CircuitBreakerLayer::builder()
            .name("payments")
            .env(env)
            .build()
            .unwrap();
        assert_eq!(named.handle().id().name(), "payments");
        let registered: Vec<String> = sink.registered().iter().map(|id| id.to_string()).collect();
        assert_eq!(registered, ["breaker/checkout", "breaker/payments"]);
    }

    #[test]
    fn a_zero_wait_is_refused() {
        let config = BreakerConfig {
            wait: Duration::ZERO,
            ..BreakerConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.to_string(), "wait: must be greater than zero");
    }

    #[test]
    fn durations_are_bounded_by_a_day() {
        let day = MAX_DURATION;
        let too_long = day + Duration::from_secs(1);
        type Breaks = Box<dyn Fn(&mut BreakerConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "wait",
                Box::new(move |c| {
                    c.wait = too_long;
                    c.backoff.max_wait = too_long;
                }),
            ),
            (
                "backoff.max_wait",
                Box::new(move |c| c.backoff.max_wait = too_long),
            ),
            (
                "window.duration",
                Box::new(move |c| {
                    c.window = WindowConfig::Time {
                        duration: too_long,
                        buckets: 10,
                    }
                }),
            ),
            (
                "slow_calls.threshold",
                Box::new(move |c| {
                    c.slow_calls = Some(SlowCallConfig {
                        threshold: too_long,
                        rate: 50.0,
                    })
                }),
            ),
            (
                "slow_calls.threshold",
                Box::new(|c| {
                    c.slow_calls = Some(SlowCallConfig {
                        threshold: Duration::ZERO,
                        rate: 50.0,
                    })
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut config = BreakerConfig::default();
            break_it(&mut config);
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
        let longest = BreakerConfig {
            wait: day,
            backoff: BackoffConfig {
                max_wait: day,
                ..BackoffConfig::default()
            },
            window: WindowConfig::Time {
                duration: day,
                buckets: 1_000,
            },
            ..BreakerConfig::default()
        };
        longest.validate().unwrap();
    }

    #[test]
    fn the_open_wait_grows_to_its_cap_and_jitter_stays_under_it() {
        let config = BreakerConfig {
            wait: Duration::from_secs(10),
            backoff: BackoffConfig {
                multiplier: 2.0,
                max_wait: Duration::from_secs(60),
                jitter: 0.0,
            },
            ..BreakerConfig::default()
        };
        let settings = config.settings().unwrap();
        let rng = buttress_core::rng::SharedRng::new(1);
        let waits: Vec<u64> = (0..5)
            .map(|reopens| settings.open_wait(reopens, &rng) / 1_000_000_000)
            .collect();
        assert_eq!(waits, [10, 20, 40, 60, 60]);

        let jittered = BreakerConfig {
            backoff: BackoffConfig {
                jitter: 0.2,
                ..config.backoff
            },
            ..config
        }
        .settings()
        .unwrap();
        for _ in 0..1_000 {
            let first = jittered.open_wait(0, &rng);
            assert!((8_000_000_000..=12_000_000_000).contains(&first), "{first}");
            let capped = jittered.open_wait(10, &rng);
            assert!(
                (48_000_000_000..=60_000_000_000).contains(&capped),
                "{capped}"
            );
        }
    }

    #[test]
    fn loads_from_toml_with_human_durations_and_refuses_unknown_fields() {
        let config: BreakerConfig = toml::from_str(
            r#"
            name = "payments"
            failure_rate = 40.0
            wait = "10s"
            slow_calls = { threshold = "2s", rate = 80.0 }
            backoff = { multiplier = 2.0, max_wait = "2m", jitter = 0.1 }
            window = { kind = "time", duration = "30s", buckets = 10 }
            "#,
        )
        .unwrap();
        assert_eq!(config.name.as_deref(), Some("payments"));
        assert_eq!(config.wait, Duration::from_secs(10));
        assert_eq!(config.backoff.max_wait, Duration::from_secs(120));
        assert_eq!(
            config.window,
            WindowConfig::Time {
                duration: Duration::from_secs(30),
                buckets: 10
            }
        );
        config.validate().unwrap();
        assert!(toml::from_str::<BreakerConfig>(r#"wiat = "10s""#).is_err());
        let zero: BreakerConfig = toml::from_str(r#"wait = "0s""#).unwrap();
        assert_eq!(zero.validate().unwrap_err().field(), "wait");
    }

    #[test]
    fn each_bad_field_is_named() {
        type Breaks = Box<dyn Fn(&mut BreakerConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "window.size",
                Box::new(|c| c.window = WindowConfig::Count { size: 0 }),
            ),
            (
                "minimum_calls",
                Box::new(|c| c.window = WindowConfig::Count { size: 10 }),
            ),
            (
                "window.buckets",
                Box::new(|c| {
                    c.window = WindowConfig::Time {
                        duration: Duration::from_secs(1),
                        buckets: 0,
                    }
                }),
            ),
            ("failure_rate", Box::new(|c| c.failure_rate = 100.5)),
            (
                "slow_calls.rate",
                Box::new(|c| {
                    c.slow_calls = Some(SlowCallConfig {
                        threshold: Duration::from_secs(1),
                        rate: f64::NAN,
                    })
                }),
            ),
            ("minimum_calls", Box::new(|c| c.minimum_calls = 0)),
            (
                "backoff.multiplier",
                Box::new(|c| c.backoff.multiplier = 0.5),
            ),
            (
                "backoff.max_wait",
                Box::new(|c| c.backoff.max_wait = Duration::from_secs(1)),
            ),
            ("backoff.jitter", Box::new(|c| c.backoff.jitter = 1.0)),
            ("permitted_probes", Box::new(|c| c.permitted_probes = 0)),
            ("max_keys", Box::new(|c| c.max_keys = 0)),
        ];
        for (field, break_it) in cases {
            let mut config = BreakerConfig::default();
            break_it(&mut config);
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
    }
}
