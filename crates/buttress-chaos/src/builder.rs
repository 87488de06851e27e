//! [`ChaosLayerBuilder`].

use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::context::FaultAbort;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};

use crate::config::{AbortConfig, ChaosConfig, DelayConfig};
use crate::latency::Latency;
use crate::layer::ChaosLayer;

/// Builds a [`ChaosLayer`]: the [`ChaosConfig`] fields in code. Nothing
/// is injected unless configured: no rate, no header directives.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_chaos::{ChaosLayer, Latency};
/// use buttress_core::context::FaultAbort;
/// use buttress_core::layer::LayerHandle;
/// use std::time::Duration;
///
/// let layer = ChaosLayer::builder()
///     .name("payments")
///     .abort(2.0, FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE))
///     .delay(10.0, Latency::uniform(Duration::from_millis(50), Duration::from_millis(250)))
///     .seed(42)
///     .max_active(50)
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// let err = ChaosLayer::builder().abort(120.0, FaultAbort::Transport).build().unwrap_err();
/// assert_eq!(err.field(), "abort.percent");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChaosLayerBuilder {
    config: ChaosConfig,
    env: BuildEnv,
}

impl LayerBuilder for ChaosLayerBuilder {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
    }
}

impl ChaosLayerBuilder {
    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: ChaosConfig) -> Self {
        ChaosLayerBuilder {
            config,
            env: BuildEnv::default(),
        }
    }

    /// Aborts `percent` (0 to 100) of calls with `abort`.
    pub fn abort(mut self, percent: f64, abort: FaultAbort) -> Self {
        self.config.abort = Some(AbortConfig {
            percent,
            with: abort,
        });
        self
    }

    /// Delays `percent` (0 to 100) of calls by a `latency` draw. A call
    /// can be both delayed and aborted (the abort comes after the delay).
    pub fn delay(mut self, percent: f64, latency: Latency) -> Self {
        self.config.delay = Some(DelayConfig { percent, latency });
        self
    }

    /// Honours `x-buttress-fault` directives naming this dependency, read
    /// from the request's [`RequestContext`](buttress_core::RequestContext)
    /// (default off). Trust and length are the context layer's business:
    /// it carries the header only from callers its
    /// [`TrustPolicy`](buttress_core::TrustPolicy) trusts.
    pub fn directives(mut self, honour: bool) -> Self {
        self.config.directives = honour;
        self
    }

    /// Seeds the draws, for reproducible runs (default: a random seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// The longest delay injected (default 30 s; 1 ms to 60 s). A
    /// directive asking for more is ignored; a distribution's draws are
    /// capped at it.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.config.max_delay = max;
        self
    }

    /// The most faults active at once (default 100): past it, calls pass
    /// untouched, so a burst of faulted requests cannot pile up delayed
    /// tasks without bound.
    pub fn max_active(mut self, max: usize) -> Self {
        self.config.max_active = max;
        self
    }

    /// Whether the layer starts enabled (default yes); see
    /// [`ChaosHandle`](crate::ChaosHandle).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// The config built so far.
    pub fn config(&self) -> &ChaosConfig {
        &self.config
    }

    /// Validates and builds the layer, registering it with telemetry as
    /// `chaos/<name>`.
    pub fn build(self) -> Result<ChaosLayer, ConfigError> {
        self.config.build_in(&self.env)
    }
}
