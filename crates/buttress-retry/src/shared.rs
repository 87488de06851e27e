//! What every service and future of one layer shares, built once with the
//! layer (DESIGN.md contract 1).

use buttress_core::telemetry::Telemetry;

use crate::budget::RetryBudget;
use crate::policy::Policy;
use crate::policy::rng::SharedRng;

pub(crate) struct Shared<P, C> {
    pub(crate) policy: Policy,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) rng: SharedRng,
    pub(crate) telemetry: Telemetry,
    pub(crate) classifier: C,
    pub(crate) replay: P,
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
