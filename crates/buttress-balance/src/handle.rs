//! Reading a balancer from outside the call path.

use std::fmt;
use std::sync::{Arc, OnceLock};

use buttress_core::clock;
use buttress_core::layer::LayerHandle;
use buttress_core::telemetry::LayerId;

use crate::endpoint::EndpointStats;
use crate::key::EndpointKey;
use crate::shared::Shared;

/// What a handle reads of a balancer, whatever its types.
pub(crate) trait View: Send + Sync + 'static {
    fn endpoints(&self) -> Vec<EndpointStats>;
}

impl<K: EndpointKey, S: Send + Sync + 'static, J: Send + Sync + 'static> View for Shared<K, S, J> {
    fn endpoints(&self) -> Vec<EndpointStats> {
        let now = clock::ticks(clock::now());
        self.table().iter().map(|ep| ep.stats(now)).collect()
    }
}

/// Reads a balancer's endpoints: where each stands (active, ramping up,
/// ejected, unhealthy), its load and its calls. The balancer's
/// [`LayerHandle`], from [`BalanceLayer::handle`](crate::BalanceLayer::handle)
/// or [`Balance::handle`](crate::Balance::handle); cheap to clone.
///
/// From the layer, before the balancer is made (its first `layer` or
/// `discover` call), it lists no endpoint.
#[derive(Clone)]
pub struct BalanceHandle {
    id: LayerId,
    view: Arc<OnceLock<Arc<dyn View>>>,
}

impl BalanceHandle {
    pub(crate) fn new(id: LayerId, view: Arc<OnceLock<Arc<dyn View>>>) -> Self {
        BalanceHandle { id, view }
    }

    pub(crate) fn of<K, S, J>(shared: Arc<Shared<K, S, J>>) -> Self
    where
        K: EndpointKey,
        S: Send + Sync + 'static,
        J: Send + Sync + 'static,
    {
        let id = shared.telemetry.layer().clone();
        let view = OnceLock::new();
        let _ = view.set(shared as Arc<dyn View>);
        BalanceHandle {
            id,
            view: Arc::new(view),
        }
    }

    /// Every endpoint in the table now.
    pub fn endpoints(&self) -> Vec<EndpointStats> {
        self.view
            .get()
            .map(|view| view.endpoints())
            .unwrap_or_default()
    }

    /// How many endpoints are ejected now.
    pub fn ejected(&self) -> usize {
        self.endpoints()
            .iter()
            .filter(|ep| ep.state == crate::EndpointState::Ejected)
            .count()
    }
}

impl LayerHandle for BalanceHandle {
    fn id(&self) -> &LayerId {
        &self.id
    }
}

impl fmt::Debug for BalanceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceHandle")
            .field("id", &self.id)
            .field("made", &self.view.get().is_some())
            .finish()
    }
}
