//! `[clients.<name>]`: one dependency's client stack as data.

use buttress_breaker::BreakerConfig;
use buttress_context::client::ClientContextConfig;
use buttress_core::config::ConfigError;
use buttress_core::layer::LayerBuilder;
use buttress_limit::BulkheadConfig;
use buttress_metrics::{RedLayer, RedSide};
use buttress_retry::RetryConfig;
use serde::Deserialize;

use super::server::MetricsConfig;
use super::toggle::{Limit, Toggle};
use crate::stack::{ClientLayer, ClientStack};

/// `[clients.<name>]`: one dependency's client stack ([`ClientStack`]).
/// Every layer's section is a [`Toggle`]: absent for the default, `false`
/// to leave it out, or a table of that layer's own config. Layer names
/// left at their defaults take the dependency's name.
///
/// ```toml
/// [clients.inventory]
/// uri = "http://inventory.internal:8080"
/// timeout = "300ms"
/// retry = { max_attempts = 2 }
/// [clients.inventory.breaker]
/// failure_rate = 40.0
/// wait = "10s"
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Where the dependency lives (an absolute URI), for the code that
    /// builds the transport.
    pub uri: Option<String>,
    /// The context layer (`buttress::context::client::ClientContextConfig`).
    pub context: Toggle<ClientContextConfig>,
    /// The RED metrics layer.
    pub metrics: Toggle<MetricsConfig>,
    /// The retry (`false`: every request is sent once).
    pub retry: Toggle<RetryConfig>,
    /// The circuit breaker.
    pub breaker: Toggle<BreakerConfig>,
    /// The bulkhead.
    pub bulkhead: Toggle<BulkheadConfig>,
    /// The per-attempt timeout, e.g. `"300ms"`.
    pub timeout: Toggle<Limit>,
    /// Fault injection (feature `chaos`; off unless given).
    #[cfg(feature = "chaos")]
    pub chaos: Toggle<buttress_chaos::ChaosConfig>,
}

impl ClientConfig {
    /// The URI, parsed.
    pub fn uri(&self) -> Result<Option<http::Uri>, ConfigError> {
        let Some(text) = &self.uri else {
            return Ok(None);
        };
        let uri: http::Uri = text
            .parse()
            .map_err(|_| ConfigError::new("uri", "not a valid URI"))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(ConfigError::new(
                "uri",
                "must be absolute, with a scheme and a host (http://host:port)",
            ));
        }
        Ok(Some(uri))
    }

    /// Checks every layer's settings for the dependency `name` without
    /// building anything; the error names the field (`breaker.wait`).
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        self.uri()?;
        if let Some(context) = self.context.settings() {
            buttress_core::layer::LayerConfig::validate(context)
                .map_err(|e| e.in_section("context"))?;
        }
        if let Some(metrics) = self.metrics.settings() {
            metrics.validate().map_err(|e| e.in_section("metrics"))?;
        }
        if let Some(retry) = self.retry.settings() {
            buttress_core::layer::LayerConfig::validate(&named_retry(retry, name))
                .map_err(|e| e.in_section("retry"))?;
        }
        if let Some(breaker) = self.breaker.settings() {
            buttress_core::layer::LayerConfig::validate(breaker)
                .map_err(|e| e.in_section("breaker"))?;
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
        #[cfg(feature = "chaos")]
        if let Some(chaos) = self.chaos.settings() {
            buttress_core::layer::LayerConfig::validate(chaos)
                .map_err(|e| e.in_section("chaos"))?;
        }
        Ok(())
    }

    /// The [`ClientStack`] this section describes for the dependency
    /// `name`, to adjust in code (a classifier, a replay strategy) before
    /// building.
    pub fn stack(&self, name: &str) -> Result<ClientStack, ConfigError> {
        self.validate(name)?;
        let mut stack = ClientStack::new(name);
        stack = match &self.context {
            Toggle::Default => stack,
            Toggle::Off => stack.without_context(),
            Toggle::On(config) => {
                let layer = buttress_context::ClientContextLayer::from_config(config);
                stack.context(layer.map_err(|e| e.in_section("context"))?)
            }
        };
        stack = match &self.metrics {
            Toggle::Default => stack,
            Toggle::Off => stack.without_metrics(),
            Toggle::On(config) => stack.metrics(
                RedLayer::builder()
                    .name(name)
                    .side(RedSide::Client)
                    .route_cap(config.route_cap)
                    .build()
                    .map_err(|e| e.in_section("metrics"))?,
            ),
        };
        stack = match &self.retry {
            Toggle::Default => stack,
            Toggle::Off => stack.without_retry(),
            Toggle::On(config) => stack.retry(named_retry(config, name)),
        };
        stack = match &self.breaker {
            Toggle::Default => stack,
            Toggle::Off => stack.without_breaker(),
            Toggle::On(config) => stack.breaker(config.clone()),
        };
        stack = match &self.bulkhead {
            Toggle::Default => stack,
            Toggle::Off => stack.without_bulkhead(),
            Toggle::On(config) => stack.bulkhead(config.clone()),
        };
        stack = match self.timeout {
            Toggle::Default => stack,
            Toggle::Off => stack.without_timeout(),
            Toggle::On(Limit(limit)) => stack.timeout(limit),
        };
        #[cfg(feature = "chaos")]
        if let Toggle::On(chaos) = &self.chaos {
            // Unnamed, the chaos layer takes the dependency's name, which
            // its directives then use.
            let env = buttress_core::layer::BuildEnv::named(name);
            let layer = buttress_core::layer::LayerConfig::build_in(chaos, &env);
            stack = stack.chaos(layer.map_err(|e| e.in_section("chaos"))?);
        }
        Ok(stack)
    }

    /// Builds the client stack for the dependency `name`.
    pub fn build(&self, name: &str) -> Result<ClientLayer, ConfigError> {
        self.stack(name)?.build()
    }
}

fn named_retry(config: &RetryConfig, name: &str) -> RetryConfig {
    let mut config = config.clone();
    if config.name.is_none() {
        config.name = Some(name.to_owned());
    }
    config
}
