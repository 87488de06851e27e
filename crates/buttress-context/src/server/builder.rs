//! [`ServerContextLayerBuilder`].

use std::sync::Arc;

use buttress_core::TrustPolicy;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder};

use super::ServerContextLayer;
use super::config::{Extras, ServerContextConfig};
use crate::id::MakeCorrelationId;

/// Builds a [`ServerContextLayer`]. Its settings are a
/// [`ServerContextConfig`] — set them with
/// [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); the name, sink and
/// environment come from [`LayerBuilder`] too. The builder adds only what
/// data cannot say: a [`TrustPolicy`] built in code
/// ([`trust`](Self::trust)) and a custom ID maker
/// ([`make_id`](Self::make_id)). [`build`](Self::build) validates.
///
/// ```
/// use buttress_context::id::UuidV4;
/// use buttress_context::server::ServerContextLayer;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::{Criticality, TrustPolicy};
/// use std::time::Duration;
///
/// let layer = ServerContextLayer::builder()
///     .configure(|c| {
///         c.max_deadline = Some(Duration::from_secs(5));
///         c.default_deadline = Some(Duration::from_secs(2));
///         c.default_criticality = Criticality::SheddablePlus.as_str().into();
///     })
///     .trust(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
///     .make_id(UuidV4)
///     .name("checkout")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "checkout");
/// assert_eq!(layer.handle().default_criticality(), Criticality::SheddablePlus);
///
/// let err = ServerContextLayer::builder()
///     .configure(|c| {
///         c.max_deadline = Some(Duration::from_secs(1));
///         c.default_deadline = Some(Duration::from_secs(2));
///     })
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "default_deadline");
/// ```
#[derive(Clone, Default)]
pub struct ServerContextLayerBuilder {
    config: ServerContextConfig,
    env: BuildEnv,
    /// Replaces the config's `trust` when set.
    trust: Option<TrustPolicy>,
    /// Replaces the config's `id_format` when set.
    make_id: Option<Arc<dyn MakeCorrelationId>>,
}

impl LayerBuilder for ServerContextLayerBuilder {
    type Config = ServerContextConfig;

    /// The config built so far (without the builder-only policy and ID
    /// maker).
    fn config(&self) -> &ServerContextConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut ServerContextConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl ServerContextLayerBuilder {
    /// Which callers may set the ID (in accept mode), deadline,
    /// criticality and fault directive, as a policy built in code (a
    /// predicate, say). Takes the place of the config's
    /// [`trust`](ServerContextConfig::trust), its data form.
    pub fn trust(mut self, trust: TrustPolicy) -> Self {
        self.trust = Some(trust);
        self
    }

    /// How fresh IDs are made, by your own scheme. Takes the place of the
    /// config's [`id_format`](ServerContextConfig::id_format), the
    /// built-in schemes.
    pub fn make_id(mut self, make: impl MakeCorrelationId) -> Self {
        self.make_id = Some(Arc::new(make));
        self
    }

    /// Validates and builds the layer, registering it with telemetry.
    pub fn build(self) -> Result<ServerContextLayer, ConfigError> {
        let extras = Extras {
            trust: self.trust,
            make_id: self.make_id,
        };
        self.config.build_with(&self.env, extras)
    }
}

impl std::fmt::Debug for ServerContextLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContextLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("trust", &self.trust)
            .field("custom_make_id", &self.make_id.is_some())
            .finish()
    }
}
