//! [`ChaosBuilder`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::context::FaultAbort;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};

use crate::directive::{MAX_DELAY, is_dependency_name};
use crate::latency::Latency;
use crate::layer::ChaosLayer;
use crate::rng::Draws;
use crate::shared::{Counters, Rated, Shared};

/// The default cap on concurrently active faults.
pub const DEFAULT_MAX_ACTIVE: usize = 100;

/// The default longest delay.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// Builds a [`ChaosLayer`]. Nothing is injected unless configured: no
/// rate, no header directives.
///
/// ```
/// use buttress_chaos::{ChaosLayer, Latency};
/// use buttress_core::context::FaultAbort;
/// use std::time::Duration;
///
/// let layer = ChaosLayer::builder("payments")
///     .abort(2.0, FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE))
///     .delay(10.0, Latency::uniform(Duration::from_millis(50), Duration::from_millis(250)))
///     .seed(42)
///     .max_active(50)
///     .build()
///     .unwrap();
/// assert_eq!(layer.name(), "payments");
///
/// let err = ChaosLayer::builder("payments").abort(120.0, FaultAbort::Transport).build().unwrap_err();
/// assert_eq!(err.field(), "abort.percent");
/// ```
pub struct ChaosBuilder {
    name: Arc<str>,
    abort: Option<(f64, FaultAbort)>,
    delay: Option<(f64, Latency)>,
    directives: bool,
    seed: Option<u64>,
    max_delay: Duration,
    max_active: usize,
    enabled: bool,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl ChaosBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        ChaosBuilder {
            name,
            abort: None,
            delay: None,
            directives: false,
            seed: None,
            max_delay: DEFAULT_MAX_DELAY,
            max_active: DEFAULT_MAX_ACTIVE,
            enabled: true,
            sink: None,
        }
    }

    /// Aborts `percent` (0 to 100) of calls with `abort`.
    pub fn abort(mut self, percent: f64, abort: FaultAbort) -> Self {
        self.abort = Some((percent, abort));
        self
    }

    /// Delays `percent` (0 to 100) of calls by a `latency` draw. A call
    /// can be both delayed and aborted (the abort comes after the delay).
    pub fn delay(mut self, percent: f64, latency: Latency) -> Self {
        self.delay = Some((percent, latency));
        self
    }

    /// Honours `x-buttress-fault` directives naming this dependency, read
    /// from the request's [`RequestContext`](buttress_core::RequestContext)
    /// (default off). Trust and length are the context layer's business:
    /// it carries the header only from callers its
    /// [`TrustPolicy`](buttress_core::TrustPolicy) trusts.
    pub fn directives(mut self, honour: bool) -> Self {
        self.directives = honour;
        self
    }

    /// Seeds the draws, for reproducible runs (default: a random seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The longest delay injected (default 30 s, at most 60 s). A
    /// directive asking for more is ignored; a distribution's draws are
    /// capped at it.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// The most faults active at once (default 100): past it, calls pass
    /// untouched, so a burst of faulted requests cannot pile up delayed
    /// tasks without bound.
    pub fn max_active(mut self, max: usize) -> Self {
        self.max_active = max;
        self
    }

    /// Whether the layer starts enabled (default yes); see
    /// [`ChaosHandle`](crate::ChaosHandle).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Report to this sink instead of the global one.
    pub fn sink(mut self, sink: Arc<dyn TelemetrySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Validates and builds the layer, registering it with telemetry as
    /// `chaos/<name>`.
    pub fn build(self) -> Result<ChaosLayer, ConfigError> {
        if !is_dependency_name(self.name.as_bytes()) {
            return Err(ConfigError::new(
                "name",
                "must be 1 to 64 of A-Z a-z 0-9 - _ . (directives name it)",
            ));
        }
        if self.max_delay.is_zero() || self.max_delay > MAX_DELAY {
            return Err(ConfigError::new("max_delay", "must be 1 ms to 60 s"));
        }
        if self.max_active == 0 {
            return Err(ConfigError::new("max_active", "must be at least 1"));
        }
        let abort = match self.abort {
            Some((percent, abort)) => Some(Rated {
                fraction: fraction(percent).map_err(|e| e.in_section("abort"))?,
                what: validate_abort(abort)?,
            }),
            None => None,
        };
        let delay = match self.delay {
            Some((percent, latency)) => {
                latency.validate(self.max_delay)?;
                Some(Rated {
                    fraction: fraction(percent).map_err(|e| e.in_section("delay"))?,
                    what: latency,
                })
            }
            None => None,
        };
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Chaos, self.name.clone()),
            None => Telemetry::register(LayerKind::Chaos, self.name.clone()),
        };
        Ok(ChaosLayer {
            shared: Arc::new(Shared {
                name: self.name,
                enabled: AtomicBool::new(self.enabled),
                abort,
                delay,
                directives: self.directives,
                max_delay: self.max_delay,
                max_active: self.max_active,
                active: AtomicUsize::new(0),
                draws: Draws::new(self.seed.unwrap_or_else(|| fastrand::u64(..))),
                counters: Counters::default(),
                telemetry,
            }),
        })
    }
}

fn fraction(percent: f64) -> Result<f64, ConfigError> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(ConfigError::new("percent", "must be 0 to 100"));
    }
    Ok(percent / 100.0)
}

fn validate_abort(abort: FaultAbort) -> Result<FaultAbort, ConfigError> {
    match abort {
        FaultAbort::HttpStatus(status) if !(400..=599).contains(&status.as_u16()) => Err(
            ConfigError::new("abort.with", "an HTTP status must be 400 to 599"),
        ),
        FaultAbort::Grpc(buttress_core::GrpcCode::Ok) => {
            Err(ConfigError::new("abort.with", "a gRPC code must not be OK"))
        }
        other => Ok(other),
    }
}

impl std::fmt::Debug for ChaosBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosBuilder")
            .field("name", &self.name)
            .field("abort", &self.abort)
            .field("delay", &self.delay)
            .field("directives", &self.directives)
            .field("seed", &self.seed)
            .field("max_delay", &self.max_delay)
            .field("max_active", &self.max_active)
            .field("enabled", &self.enabled)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}
