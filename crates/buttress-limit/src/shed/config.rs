//! Load shedding settings, their builder and validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::Criticality;
use buttress_core::access::RequestAccess;
use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};
use buttress_core::telemetry::LayerKind;
use http::Method;

use super::layer::LoadShedLayer;
use super::priority::{PriorityFn, PriorityRules};
use super::route::RouteTemplate;
use super::shedder::Shedder;
use super::signal::{InFlightSignal, LatencySignal, OverloadSignal, QueueDelaySignal, Signal};
use crate::ConfigError;

/// The shortest duration a signal's target, interval or window may be.
const ONE_NANO: Duration = Duration::from_nanos(1);

/// Which built-in overload signal a shedder reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShedSignalConfig {
    /// Calls in flight through the layer ([`InFlightSignal`]).
    InFlight {
        /// Shedding starts above this many calls in flight.
        high: usize,
        /// Gated (low-priority) work is let in only at or below this many.
        low: usize,
    },
    /// Time waited before reaching the layer ([`QueueDelaySignal`]).
    QueueDelay {
        /// The acceptable wait.
        #[serde(with = "humantime_serde")]
        target: Duration,
        /// How long the wait may stand above target before it counts as
        /// overload.
        #[serde(with = "humantime_serde")]
        interval: Duration,
    },
    /// Mean latency of the last window ([`LatencySignal`]).
    Latency {
        /// Overloaded above this mean.
        #[serde(with = "humantime_serde")]
        target: Duration,
        /// Relieved at or below this mean.
        #[serde(with = "humantime_serde")]
        relief: Duration,
        /// The window.
        #[serde(with = "humantime_serde")]
        window: Duration,
    },
}

impl Default for ShedSignalConfig {
    fn default() -> Self {
        ShedSignalConfig::InFlight {
            high: 1000,
            low: 800,
        }
    }
}

impl ShedSignalConfig {
    /// Checks the signal's settings; errors name the field within the
    /// `signal` section.
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field, value| check_duration(field, value, ONE_NANO..=MAX_DURATION);
        match self {
            ShedSignalConfig::InFlight { high, low } => {
                if *high == 0 {
                    return Err(ConfigError::new("high", "must be at least 1"));
                }
                if low > high {
                    return Err(ConfigError::new("low", "must not exceed high"));
                }
            }
            ShedSignalConfig::QueueDelay { target, interval } => {
                positive("target", *target)?;
                positive("interval", *interval)?;
            }
            ShedSignalConfig::Latency {
                target,
                relief,
                window,
            } => {
                positive("target", *target)?;
                if relief > target {
                    return Err(ConfigError::new("relief", "must not exceed target"));
                }
                positive("window", *window)?;
            }
        }
        Ok(())
    }

    fn build(&self) -> Signal {
        match *self {
            ShedSignalConfig::InFlight { high, low } => {
                Signal::InFlight(InFlightSignal::new(high, low))
            }
            ShedSignalConfig::QueueDelay { target, interval } => {
                Signal::QueueDelay(QueueDelaySignal::new(target, interval))
            }
            ShedSignalConfig::Latency {
                target,
                relief,
                window,
            } => Signal::Latency(LatencySignal::new(target, relief, window)),
        }
    }
}

/// A route template and the priority of the requests it matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// A template in axum's syntax: `/users/{id}`, `/static/{*path}`.
    pub route: String,
    /// The priority of matching requests.
    #[serde(with = "criticality_text")]
    pub criticality: Criticality,
}

impl RouteRule {
    /// Requests matching the route `template` have priority `criticality`.
    pub fn new(template: impl Into<String>, criticality: Criticality) -> Self {
        RouteRule {
            route: template.into(),
            criticality,
        }
    }
}

/// A method and the priority of the requests that use it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodRule {
    /// The method, e.g. `"GET"`.
    pub method: String,
    /// The priority of requests using it.
    #[serde(with = "criticality_text")]
    pub criticality: Criticality,
}

impl MethodRule {
    /// Requests using `method` have priority `criticality`.
    pub fn new(method: Method, criticality: Criticality) -> Self {
        MethodRule {
            method: method.as_str().into(),
            criticality,
        }
    }
}

/// A load shedder's configuration, as data (loadable from TOML or JSON,
/// durations written like `"100ms"`, criticality like
/// `"SHEDDABLE"`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `shed` | what it reports under |
/// | `signal` | in flight, 1000 / 800 | the overload signal ([`ShedSignalConfig`]) |
/// | `escalate_after` | 100 ms | the shortest time between two raises of the level, up to a day |
/// | `cooldown` | 1 s | how often the level may fall, 1 ns to a day |
/// | `relax_ratio` | 0.5 | the share of the highest shed class that may still be refused for the level to fall |
/// | `retry_after` | 1 s | the retry hint given with a rejection, up to a day |
/// | `default_criticality` | `CRITICAL` | the priority of requests no rule and no context names |
/// | `health_routes` | `/health`, `/healthz`, `/ready`, `/readyz`, `/livez` | always critical-plus |
/// | `routes` | none | route templates and their priorities |
/// | `methods` | none | methods and their priorities |
///
/// A priority closure and a signal of your own are not data: set them on
/// the [builder](LoadShedLayerBuilder).
///
/// ```
/// use buttress_core::Criticality;
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::shed::{LoadShedLayer, RouteRule, ShedConfig, ShedSignalConfig};
///
/// let config = ShedConfig {
///     name: Some("api".into()),
///     signal: ShedSignalConfig::InFlight { high: 200, low: 160 },
///     routes: vec![RouteRule::new("/reports/{id}", Criticality::Sheddable)],
///     ..ShedConfig::default()
/// };
/// let layer = LoadShedLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().shedding(), None);
/// assert_eq!(layer.handle().id().name(), "api");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShedConfig {
    /// The name the layer reports under; `None`: the stack's name, else
    /// `shed`.
    pub name: Option<String>,
    /// The overload signal.
    pub signal: ShedSignalConfig,
    /// The shortest time between two raises of the shed level (the first
    /// raise is immediate): long enough for the previous raise to show.
    #[serde(with = "humantime_serde")]
    pub escalate_after: Duration,
    /// How often the level may fall: one class at the end of each such
    /// period in which at most `relax_ratio` of the highest class shed had
    /// to be refused.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// The share of the highest shed class's requests that may still be
    /// refused over a cooldown for the level to fall (0..=1).
    pub relax_ratio: f64,
    /// The retry hint given with a rejection.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// The priority of requests no rule and no context names.
    #[serde(with = "criticality_text")]
    pub default_criticality: Criticality,
    /// Health and readiness routes: always critical-plus.
    pub health_routes: Vec<String>,
    /// Route templates and their priorities, first match wins.
    pub routes: Vec<RouteRule>,
    /// Methods and their priorities, first match wins (after routes).
    pub methods: Vec<MethodRule>,
}

impl Default for ShedConfig {
    fn default() -> Self {
        ShedConfig {
            name: None,
            signal: ShedSignalConfig::default(),
            escalate_after: Duration::from_millis(100),
            cooldown: Duration::from_secs(1),
            relax_ratio: 0.5,
            retry_after: Duration::from_secs(1),
            default_criticality: Criticality::default(),
            health_routes: ["/health", "/healthz", "/ready", "/readyz", "/livez"]
                .map(String::from)
                .to_vec(),
            routes: Vec::new(),
            methods: Vec::new(),
        }
    }
}

impl LayerConfig for ShedConfig {
    type Layer = LoadShedLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.rules(None).map(drop)
    }

    fn build_in(&self, env: &BuildEnv) -> Result<LoadShedLayer, ConfigError> {
        self.build_with(env, None, None)
    }
}

impl ShedConfig {
    /// Validates, then builds the layer with the builder's extras.
    fn build_with(
        &self,
        env: &BuildEnv,
        custom: Option<Box<dyn OverloadSignal>>,
        closure: Option<Arc<PriorityFn>>,
    ) -> Result<LoadShedLayer, ConfigError> {
        let rules = self.rules(closure)?;
        let telemetry = env.telemetry(LayerKind::Shed, self.name.as_deref());
        let signal = match custom {
            Some(custom) => Signal::Custom(custom),
            None => self.signal.build(),
        };
        let shedder = Arc::new(Shedder::new(self.clone(), signal, rules, telemetry));
        shedder.telemetry.describe_config(&shedder, |s| &s.current);
        Ok(LoadShedLayer::new(shedder))
    }

    /// Checks every field and compiles the priority rules.
    fn rules(&self, closure: Option<Arc<PriorityFn>>) -> Result<PriorityRules, ConfigError> {
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        self.signal.validate().map_err(|e| e.in_section("signal"))?;
        check_duration(
            "escalate_after",
            self.escalate_after,
            Duration::ZERO..=MAX_DURATION,
        )?;
        check_duration("cooldown", self.cooldown, ONE_NANO..=MAX_DURATION)?;
        if !(0.0..=1.0).contains(&self.relax_ratio) {
            return Err(ConfigError::new("relax_ratio", "must be within 0..=1"));
        }
        check_duration(
            "retry_after",
            self.retry_after,
            Duration::ZERO..=MAX_DURATION,
        )?;
        let template = |field: &'static str, text: &str| {
            RouteTemplate::parse(text)
                .ok_or_else(|| ConfigError::new(field, "must start with '/', a wildcard only last"))
        };
        let health = self
            .health_routes
            .iter()
            .map(|text| template("health_routes", text))
            .collect::<Result<_, _>>()?;
        let routes = self
            .routes
            .iter()
            .map(|rule| Ok((template("routes", &rule.route)?, rule.criticality)))
            .collect::<Result<_, ConfigError>>()?;
        let methods = self
            .methods
            .iter()
            .map(|rule| {
                let method = Method::from_bytes(rule.method.as_bytes())
                    .map_err(|_| ConfigError::new("methods", "not an HTTP method"))?;
                Ok((method, rule.criticality))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(PriorityRules {
            closure,
            health,
            routes,
            methods,
            default: self.default_criticality,
        })
    }
}

/// Builds a [`LoadShedLayer`]. Its settings are a [`ShedConfig`], set
/// with [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); the builder adds only what
/// is not data — a priority closure, a signal of your own — and the
/// environment it reports in ([`LayerBuilder`]'s `name`, `sink`, `env`).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::Criticality;
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_limit::shed::{LoadShedLayer, RouteRule, ShedSignalConfig};
/// use std::time::Duration;
///
/// let layer = LoadShedLayer::builder()
///     .configure(|c| {
///         c.signal = ShedSignalConfig::InFlight { high: 200, low: 160 };
///         c.routes.push(RouteRule::new("/reports/{id}", Criticality::Sheddable));
///     })
///     .name("api")
///     .priority_fn(|req| req.headers().contains_key("x-prefetch").then_some(Criticality::Sheddable))
///     .sink(RecordingSink::new())
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().in_flight(), 0);
/// assert!(LoadShedLayer::builder().configure(|c| c.cooldown = Duration::ZERO).build().is_err());
/// ```
#[derive(Default)]
pub struct LoadShedLayerBuilder {
    config: ShedConfig,
    env: BuildEnv,
    custom: Option<Box<dyn OverloadSignal>>,
    closure: Option<Arc<PriorityFn>>,
}

impl fmt::Debug for LoadShedLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("custom_signal", &self.custom.is_some())
            .field("closure", &self.closure.is_some())
            .finish()
    }
}

impl LayerBuilder for LoadShedLayerBuilder {
    type Config = ShedConfig;

    fn config(&self) -> &ShedConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut ShedConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl LoadShedLayerBuilder {
    /// Sheds on a signal of your own, which takes the place of the
    /// config's `signal` (a signal is code, not data).
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_limit::shed::{LoadShedLayer, OverloadSignal, Pressure, Probe};
    ///
    /// /// Overloaded while a flag (set by a health check, say) is up.
    /// struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
    ///
    /// impl OverloadSignal for Flag {
    ///     fn pressure(&self, _probe: &Probe) -> Pressure {
    ///         if self.0.load(std::sync::atomic::Ordering::Relaxed) {
    ///             Pressure::Overloaded
    ///         } else {
    ///             Pressure::Relieved
    ///         }
    ///     }
    /// }
    ///
    /// let flag = std::sync::Arc::default();
    /// let layer = LoadShedLayer::builder().name("api").custom_signal(Flag(flag)).build().unwrap();
    /// assert_eq!(layer.handle().shedding(), None);
    /// ```
    pub fn custom_signal(mut self, signal: impl OverloadSignal) -> Self {
        self.custom = Some(Box::new(signal));
        self
    }

    /// Assigns priorities with a closure, consulted before every other
    /// rule; `None` defers to them.
    pub fn priority_fn<F>(mut self, closure: F) -> Self
    where
        F: Fn(&dyn RequestAccess) -> Option<Criticality> + Send + Sync + 'static,
    {
        self.closure = Some(Arc::new(closure));
        self
    }

    /// Validates and builds the layer; its state is shared by every
    /// service it wraps.
    pub fn build(self) -> Result<LoadShedLayer, ConfigError> {
        self.config.build_with(&self.env, self.custom, self.closure)
    }
}

mod criticality_text {
    use buttress_core::Criticality;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(level: &Criticality, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(level.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Criticality, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Criticality::parse(text.as_bytes()).ok_or_else(|| {
            serde::de::Error::custom(
                "expected SHEDDABLE, SHEDDABLE_PLUS, CRITICAL or CRITICAL_PLUS",
            )
        })
    }
}
