//! [`ChaosLayer`].

use std::sync::Arc;

use buttress_core::config::ConfigError;
use buttress_core::layer::{Bypass, LayerConfig, LayerHandle};
use tower_layer::Layer;

use crate::builder::ChaosLayerBuilder;
use crate::config::ChaosConfig;
use crate::handle::ChaosHandle;
use crate::service::Chaos;
use crate::shared::Shared;

/// Applies [`Chaos`] to a dependency's client stack; see the
/// [crate documentation](crate).
///
/// The layer holds the shared state (the seeded draws, the active-fault
/// count, the counters): every service it wraps, and every clone, shares
/// it, so a cap of 100 active faults is 100 for the dependency, however
/// often a framework calls [`Layer::layer`].
#[derive(Clone)]
pub struct ChaosLayer {
    pub(crate) shared: Arc<Shared>,
}

impl ChaosLayer {
    /// A builder; name the dependency with
    /// [`name`](buttress_core::layer::LayerBuilder::name) (the name fault
    /// directives use) and set faults with
    /// [`configure`](buttress_core::layer::LayerBuilder::configure).
    /// Everything is off until configured.
    pub fn builder() -> ChaosLayerBuilder {
        ChaosLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &ChaosConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    /// The handle that switches the layer on and off and reads its
    /// counters.
    pub fn handle(&self) -> ChaosHandle {
        ChaosHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> Layer<S> for ChaosLayer {
    type Service = Chaos<S>;

    fn layer(&self, inner: S) -> Chaos<S> {
        Chaos::new(inner, Some(self.shared.clone()))
    }
}

/// Left out of a stack, the layer is its own service injecting nothing, at
/// the cost of one branch rather than one more level of future.
impl<S> Bypass<S> for ChaosLayer {
    fn bypass(inner: S) -> Chaos<S> {
        Chaos::new(inner, None)
    }
}

impl std::fmt::Debug for ChaosLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("id", self.handle().id())
            .field("directives", &self.shared.directives)
            .field("abort", &self.shared.abort)
            .field("delay", &self.shared.delay)
            .field("max_active", &self.shared.max_active)
            .finish()
    }
}
