//! What every service and future of one layer shares, built once with the
//! layer: clones of the layer and the services it builds never create it
//! again, so under `axum::serve` (which applies layers per connection) one
//! budget and one random stream serve them all.

use std::sync::Arc;

use buttress_core::rng::SharedRng;
use buttress_core::telemetry::Telemetry;

use crate::budget::RetryBudget;
use crate::config::RetryConfig;
use crate::handle::RetryHandle;
use crate::hedge::Hedging;
use crate::policy::Policy;
use crate::replay::ReplayMemory;

pub(crate) struct Shared<P, C> {
    pub(crate) policy: Policy,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) rng: SharedRng,
    pub(crate) telemetry: Telemetry,
    pub(crate) classifier: C,
    pub(crate) replay: P,
    /// The bytes kept for replay, under the layer's cap.
    pub(crate) memory: ReplayMemory,
    /// How the layer hedges, if it hedges instead of retrying.
    pub(crate) hedging: Option<Arc<Hedging>>,
    /// What the layer's handle reads; the request path reads the fields
    /// above, one pointer away rather than two.
    pub(crate) handle: RetryHandle,
}

impl<P, C> Shared<P, C> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        memory: ReplayMemory,
        policy: Policy,
        budget: Option<RetryBudget>,
        rng: SharedRng,
        telemetry: Telemetry,
        classifier: C,
        replay: P,
        config: RetryConfig,
        hedging: Option<Hedging>,
    ) -> Self {
        let hedging = hedging.map(Arc::new);
        let handle = RetryHandle::new(
            config,
            policy.live.clone(),
            hedging.clone(),
            telemetry.clone(),
            budget.clone(),
            memory.clone(),
        );
        Shared {
            policy,
            budget,
            rng,
            telemetry,
            classifier,
            replay,
            memory,
            hedging,
            handle,
        }
    }
}

impl<P, C> std::fmt::Debug for Shared<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}
