//! `[server]`: the server stack as data.

use buttress_context::server::ServerContextConfig;
use buttress_core::config::ConfigError;
use buttress_core::layer::LayerBuilder;
use buttress_limit::BulkheadConfig;
use buttress_limit::adaptive::AdaptiveLimitConfig;
use buttress_metrics::RedLayer;
use serde::Deserialize;

use super::toggle::{Limit, Toggle};
use crate::stack::{ServerLayer, ServerStack};

/// The RED metrics layer's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// At most this many distinct route labels (default 64, at most 4096).
    pub route_cap: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            route_cap: buttress_metrics::RedConfig::DEFAULT_ROUTE_CAP,
        }
    }
}

impl MetricsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.route_cap > 4096 {
            return Err(ConfigError::new("route_cap", "must be at most 4096"));
        }
        Ok(())
    }
}

/// `[server]`: the server stack ([`ServerStack`]). Every layer's section
/// is a [`Toggle`]: absent for the default, `false` to leave it out, or a
/// table of that layer's own config.
///
/// ```toml
/// [server]
/// name = "shop"
/// timeout = "5s"
/// context = { trust = { peers = ["10.0.0.0/8"] }, max_deadline = "10s" }
/// [server.adaptive_limit]
/// max_limit = 200
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The service's name in metrics and telemetry (default `server`).
    pub name: String,
    /// The context layer (`buttress::context::server::ServerContextConfig`).
    pub context: Toggle<ServerContextConfig>,
    /// The RED metrics layer.
    pub metrics: Toggle<MetricsConfig>,
    /// The adaptive concurrency limit.
    pub adaptive_limit: Toggle<AdaptiveLimitConfig>,
    /// A bulkhead (off unless given).
    pub bulkhead: Toggle<BulkheadConfig>,
    /// The server's own timeout, e.g. `"10s"`.
    pub timeout: Toggle<Limit>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "server".into(),
            context: Toggle::Default,
            metrics: Toggle::Default,
            adaptive_limit: Toggle::Default,
            bulkhead: Toggle::Default,
            timeout: Toggle::Default,
        }
    }
}

impl ServerConfig {
    /// Checks every layer's settings without building anything; the
    /// error names the field (`adaptive_limit.max_limit`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        if let Some(context) = self.context.settings() {
            buttress_core::layer::LayerConfig::validate(context)
                .map_err(|e| e.in_section("context"))?;
        }
        if let Some(metrics) = self.metrics.settings() {
            metrics.validate().map_err(|e| e.in_section("metrics"))?;
        }
        if let Some(limit) = self.adaptive_limit.settings() {
            buttress_core::layer::LayerConfig::validate(limit)
                .map_err(|e| e.in_section("adaptive_limit"))?;
        }
        if let Some(bulkhead) = self.bulkhead.settings() {
            buttress_core::layer::LayerConfig::validate(bulkhead)
                .map_err(|e| e.in_section("bulkhead"))?;
        }
        if self
            .timeout
            .settings()
            .is_some_and(|Limit(limit)| limit.is_zero())
        {
            return Err(ConfigError::new("timeout", "must be greater than zero"));
        }
        Ok(())
    }

    /// The [`ServerStack`] this section describes, to adjust in code
    /// before building.
    pub fn stack(&self) -> Result<ServerStack, ConfigError> {
        self.validate()?;
        let mut stack = ServerStack::new(self.name.as_str());
        stack = match &self.context {
            Toggle::Default => stack,
            Toggle::Off => stack.without_context(),
            Toggle::On(config) => {
                let layer = buttress_context::ServerContextLayer::from_config(config);
                stack.context(layer.map_err(|e| e.in_section("context"))?)
            }
        };
        stack = match &self.metrics {
            Toggle::Default => stack,
            Toggle::Off => stack.without_metrics(),
            Toggle::On(config) => stack.metrics(
                RedLayer::builder()
                    .name(self.name.as_str())
                    .route_cap(config.route_cap)
                    .build()
                    .map_err(|e| e.in_section("metrics"))?,
            ),
        };
        stack = match &self.adaptive_limit {
            Toggle::Default => stack,
            Toggle::Off => stack.without_adaptive_limit(),
            Toggle::On(config) => stack.adaptive_limit(config.clone()),
        };
        stack = match &self.bulkhead {
            Toggle::Default | Toggle::Off => stack.without_bulkhead(),
            Toggle::On(config) => stack.bulkhead(config.clone()),
        };
        Ok(match self.timeout {
            Toggle::Default => stack,
            Toggle::Off => stack.without_timeout(),
            Toggle::On(Limit(limit)) => stack.timeout(limit),
        })
    }

    /// Builds the server stack.
    pub fn build(&self) -> Result<ServerLayer, ConfigError> {
        self.stack()?.build()
    }
}
