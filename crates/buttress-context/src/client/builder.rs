//! [`ClientContextLayerBuilder`].

use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};
use http::HeaderName;

use super::{ClientContextConfig, ClientContextLayer};

/// Builds a [`ClientContextLayer`]: the [`ClientContextConfig`] fields in
/// code. [`build`](Self::build) validates.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_context::client::ClientContextLayer;
/// use buttress_core::layer::LayerHandle;
/// use std::time::Duration;
///
/// let layer = ClientContextLayer::builder()
///     .deadline_margin(Duration::from_millis(20))
///     .propagate_fault(false)
///     .name("inventory")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "inventory");
/// assert!(ClientContextLayer::builder().deadline_margin(Duration::from_secs(120)).build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientContextLayerBuilder {
    config: ClientContextConfig,
    env: BuildEnv,
}

impl LayerBuilder for ClientContextLayerBuilder {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
    }
}

impl ClientContextLayerBuilder {
    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: ClientContextConfig) -> Self {
        ClientContextLayerBuilder {
            config,
            env: BuildEnv::default(),
        }
    }

    /// The header the ID is written as (default `x-request-id`).
    pub fn id_header(mut self, name: HeaderName) -> Self {
        self.config.id_header = name.as_str().into();
        self
    }

    /// The milliseconds header the deadline is written as on HTTP calls
    /// (default `x-request-timeout-ms`; gRPC calls use `grpc-timeout`).
    pub fn deadline_header(mut self, name: HeaderName) -> Self {
        self.config.deadline_header = name.as_str().into();
        self
    }

    /// Time kept back from the remaining deadline for the answer's trip
    /// back (default 5 ms, at most 60 s). Zero is allowed.
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.config.deadline_margin = margin;
        self
    }

    /// The criticality header (default `x-criticality`).
    pub fn criticality_header(mut self, name: HeaderName) -> Self {
        self.config.criticality_header = name.as_str().into();
        self
    }

    /// The fault directive header (default `x-buttress-fault`).
    pub fn fault_header(mut self, name: HeaderName) -> Self {
        self.config.fault_header = name.as_str().into();
        self
    }

    /// Whether a fault directive in the context is forwarded (default
    /// yes; turn off for calls leaving your system).
    pub fn propagate_fault(mut self, propagate: bool) -> Self {
        self.config.propagate_fault = propagate;
        self
    }

    /// The config built so far.
    pub fn config(&self) -> &ClientContextConfig {
        &self.config
    }

    /// Validates and builds the layer, registering it with telemetry.
    pub fn build(self) -> Result<ClientContextLayer, ConfigError> {
        self.config.build_in(&self.env)
    }
}
