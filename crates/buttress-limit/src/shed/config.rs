//! Load shedding settings, their builder and validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::Criticality;
use buttress_core::access::RequestAccess;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};
use http::Method;

use super::layer::LoadShedLayer;
use super::priority::{PriorityFn, PriorityRules};
use super::route::RouteTemplate;
use super::shedder::Shedder;
use super::signal::{InFlightSignal, LatencySignal, OverloadSignal, QueueDelaySignal, Signal};
use crate::ConfigError;
use crate::bulkhead::MAX_WAIT_CEILING;

/// Which built-in overload signal a shedder reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
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
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        target: Duration,
        /// How long the wait may stand above target before it counts as
        /// overload.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        interval: Duration,
    },
    /// Mean latency of the last window ([`LatencySignal`]).
    Latency {
        /// Overloaded above this mean.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        target: Duration,
        /// Relieved at or below this mean.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        relief: Duration,
        /// The window.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
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
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem| Err(ConfigError::new(field, problem));
        let bounded = |d: &Duration| !d.is_zero() && *d <= MAX_WAIT_CEILING;
        match self {
            ShedSignalConfig::InFlight { high, low } => {
                if *high == 0 {
                    return fail("signal.high", "must be at least 1");
                }
                if low > high {
                    return fail("signal.low", "must not exceed high");
                }
            }
            ShedSignalConfig::QueueDelay { target, interval } => {
                if !bounded(target) {
                    return fail("signal.target", "must be above zero and at most one hour");
                }
                if !bounded(interval) {
                    return fail("signal.interval", "must be above zero and at most one hour");
                }
            }
            ShedSignalConfig::Latency {
                target,
                relief,
                window,
            } => {
                if !bounded(target) {
                    return fail("signal.target", "must be above zero and at most one hour");
                }
                if relief > target {
                    return fail("signal.relief", "must not exceed target");
                }
                if !bounded(window) {
                    return fail("signal.window", "must be above zero and at most one hour");
                }
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RouteRule {
    /// A template in axum's syntax: `/users/{id}`, `/static/{*path}`.
    pub route: String,
    /// The priority of matching requests.
    #[cfg_attr(feature = "serde", serde(with = "criticality_text"))]
    pub criticality: Criticality,
}

/// A method and the priority of the requests that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct MethodRule {
    /// The method, e.g. `"GET"`.
    pub method: String,
    /// The priority of requests using it.
    #[cfg_attr(feature = "serde", serde(with = "criticality_text"))]
    pub criticality: Criticality,
}

/// A load shedder's settings, as data (loadable with the `serde` feature,
/// durations written like `"100ms"`, criticality like `"SHEDDABLE"`).
///
/// ```
/// use buttress_limit::shed::{LoadShedConfig, LoadShedLayer, RouteRule, ShedSignalConfig};
/// use buttress_core::Criticality;
///
/// let config = LoadShedConfig {
///     name: "api".into(),
///     signal: ShedSignalConfig::InFlight { high: 200, low: 160 },
///     routes: vec![RouteRule { route: "/reports/{id}".into(), criticality: Criticality::Sheddable }],
///     ..LoadShedConfig::default()
/// };
/// let layer = LoadShedLayer::from_config(config).unwrap();
/// assert_eq!(layer.shedding(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct LoadShedConfig {
    /// The name telemetry reports under.
    pub name: String,
    /// The overload signal.
    pub signal: ShedSignalConfig,
    /// The shortest time between two raises of the shed level (the first
    /// raise is immediate): long enough for the previous raise to show.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub escalate_after: Duration,
    /// How often the level may fall: one class at the end of each such
    /// period in which at most `relax_ratio` of the highest class shed had
    /// to be refused.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub cooldown: Duration,
    /// The share of the highest shed class's requests that may still be
    /// refused over a cooldown for the level to fall (0..=1).
    pub relax_ratio: f64,
    /// The retry hint given with a rejection.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub retry_after: Duration,
    /// The priority of requests no rule and no context names.
    #[cfg_attr(feature = "serde", serde(with = "criticality_text"))]
    pub default_criticality: Criticality,
    /// Health and readiness routes: always critical-plus.
    pub health_routes: Vec<String>,
    /// Route templates and their priorities, first match wins.
    pub routes: Vec<RouteRule>,
    /// Methods and their priorities, first match wins (after routes).
    pub methods: Vec<MethodRule>,
}

impl Default for LoadShedConfig {
    fn default() -> Self {
        LoadShedConfig {
            name: "shed".into(),
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

impl LoadShedConfig {
    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rules(None).map(drop)
    }

    fn rules(&self, closure: Option<Arc<PriorityFn>>) -> Result<PriorityRules, ConfigError> {
        let fail = |field, problem| Err(ConfigError::new(field, problem));
        if self.name.is_empty() {
            return fail("name", "must not be empty");
        }
        self.signal.validate()?;
        if self.escalate_after > MAX_WAIT_CEILING {
            return fail("escalate_after", "must be at most one hour");
        }
        if self.cooldown.is_zero() || self.cooldown > MAX_WAIT_CEILING {
            return fail("cooldown", "must be above zero and at most one hour");
        }
        if !(0.0..=1.0).contains(&self.relax_ratio) {
            return fail("relax_ratio", "must be within 0..=1");
        }
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

/// Builds a [`LoadShedLayer`]; see [`LoadShedLayer::builder`].
#[derive(Default)]
pub struct LoadShedBuilder {
    config: LoadShedConfig,
    custom: Option<Box<dyn OverloadSignal>>,
    closure: Option<Arc<PriorityFn>>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl fmt::Debug for LoadShedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedBuilder")
            .field("config", &self.config)
            .field("custom_signal", &self.custom.is_some())
            .field("closure", &self.closure.is_some())
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

impl LoadShedBuilder {
    /// A builder starting from `config`.
    pub fn from_config(config: LoadShedConfig) -> Self {
        LoadShedBuilder {
            config,
            ..Default::default()
        }
    }

    /// The name telemetry reports under.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Sheds on calls in flight: above `high`, down to `low` (the default
    /// signal, 1000 / 800).
    pub fn in_flight(mut self, high: usize, low: usize) -> Self {
        self.config.signal = ShedSignalConfig::InFlight { high, low };
        self.custom = None;
        self
    }

    /// Sheds on the wait before reaching the layer.
    pub fn queue_delay(mut self, target: Duration, interval: Duration) -> Self {
        self.config.signal = ShedSignalConfig::QueueDelay { target, interval };
        self.custom = None;
        self
    }

    /// Sheds on the mean latency of the last `window`.
    pub fn latency(mut self, target: Duration, relief: Duration, window: Duration) -> Self {
        self.config.signal = ShedSignalConfig::Latency {
            target,
            relief,
            window,
        };
        self.custom = None;
        self
    }

    /// Sheds on a signal of your own.
    pub fn signal(mut self, signal: impl OverloadSignal) -> Self {
        self.custom = Some(Box::new(signal));
        self
    }

    /// The shortest time between two raises of the level.
    pub fn escalate_after(mut self, dwell: Duration) -> Self {
        self.config.escalate_after = dwell;
        self
    }

    /// How often the level may fall, and the share of the highest shed
    /// class that may still be refused over such a period for it to fall.
    pub fn cooldown(mut self, cooldown: Duration, relax_ratio: f64) -> Self {
        self.config.cooldown = cooldown;
        self.config.relax_ratio = relax_ratio;
        self
    }

    /// The retry hint given with a rejection.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// The priority of requests no rule and no context names.
    pub fn default_criticality(mut self, level: Criticality) -> Self {
        self.config.default_criticality = level;
        self
    }

    /// Requests matching the route `template` have priority `level`.
    pub fn route(mut self, template: impl Into<String>, level: Criticality) -> Self {
        self.config.routes.push(RouteRule {
            route: template.into(),
            criticality: level,
        });
        self
    }

    /// Requests using `method` have priority `level` (after routes).
    pub fn method(mut self, method: Method, level: Criticality) -> Self {
        self.config.methods.push(MethodRule {
            method: method.as_str().into(),
            criticality: level,
        });
        self
    }

    /// Replaces the health and readiness routes (always critical-plus).
    pub fn health_routes<I, T>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.config.health_routes = routes.into_iter().map(Into::into).collect();
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

    /// Reports to `sink` instead of the process-wide sink.
    pub fn telemetry_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Builds the layer; its state is shared by every service it wraps.
    pub fn build(self) -> Result<LoadShedLayer, ConfigError> {
        let rules = self.config.rules(self.closure)?;
        let name: Arc<str> = self.config.name.as_str().into();
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Shed, name),
            None => Telemetry::register(LayerKind::Shed, name),
        };
        let signal = match self.custom {
            Some(custom) => Signal::Custom(custom),
            None => self.config.signal.build(),
        };
        let shedder = Shedder::new(self.config, signal, rules, telemetry);
        Ok(LoadShedLayer::new(Arc::new(shedder)))
    }
}

#[cfg(feature = "serde")]
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
