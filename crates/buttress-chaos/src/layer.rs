//! [`ChaosLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use crate::builder::ChaosBuilder;
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
    /// A builder for the chaos layer of the dependency `name` (the name
    /// fault directives use). Everything is off until configured.
    pub fn builder(name: impl Into<Arc<str>>) -> ChaosBuilder {
        ChaosBuilder::new(name.into())
    }

    /// A handle to switch the layer on and off and read its counters.
    pub fn handle(&self) -> ChaosHandle {
        ChaosHandle {
            shared: self.shared.clone(),
        }
    }

    /// The dependency this layer injects faults for.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl<S> Layer<S> for ChaosLayer {
    type Service = Chaos<S>;

    fn layer(&self, inner: S) -> Chaos<S> {
        Chaos::new(inner, self.shared.clone())
    }
}

impl std::fmt::Debug for ChaosLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("name", &&*self.shared.name)
            .field("directives", &self.shared.directives)
            .field("abort", &self.shared.abort)
            .field("delay", &self.shared.delay)
            .field("max_active", &self.shared.max_active)
            .finish()
    }
}
