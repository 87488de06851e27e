//! The per-endpoint guards of a balanced client stack, kept where a reload
//! reaches them: every live endpoint's breaker, bulkhead and per-attempt
//! timeout handles, and the sections endpoints added later are built from.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use buttress_breaker::{BreakerConfig, CircuitBreakerHandle};
use buttress_core::config::ConfigError;
use buttress_core::timeout::{TimeoutConfig, TimeoutHandle};
use buttress_limit::{BulkheadConfig, BulkheadHandle};

use super::client::ClientStackConfig;
use super::live;

/// One endpoint's guards, while its service lives.
#[derive(Debug)]
struct Guards {
    /// Held by the endpoint's service: gone when the endpoint is.
    alive: Weak<()>,
    breaker: Option<CircuitBreakerHandle>,
    bulkhead: Option<BulkheadHandle>,
    timeout: Option<TimeoutHandle>,
}

/// The new settings of the endpoints' guards, checked.
#[derive(Debug)]
pub(super) struct GuardPlan<'a> {
    pub(super) breaker: &'a Option<BreakerConfig>,
    pub(super) bulkhead: &'a Option<BulkheadConfig>,
    pub(super) timeout: &'a Option<TimeoutConfig>,
}

/// Every live endpoint's guards, and the stack config new endpoints are
/// built from. Dead endpoints are dropped in batches: a registration
/// prunes only once the list has doubled since the last prune, so `n`
/// endpoints arriving cost O(n) in all and at most twice the live ones
/// are held.
#[derive(Debug)]
pub(super) struct EndpointGuards {
    config: Mutex<ClientStackConfig>,
    live: Mutex<(Vec<Guards>, usize)>,
}

impl EndpointGuards {
    pub(super) fn new(config: ClientStackConfig) -> Arc<Self> {
        Arc::new(EndpointGuards {
            config: Mutex::new(config),
            live: Mutex::new((Vec::new(), 0)),
        })
    }

    /// Runs `build` on the sections a new endpoint's guards are built
    /// from now, holding them: a reload waits until the endpoint built
    /// has [registered](Self::register), so it is either built from the
    /// new sections or changed by the reload, never left behind.
    pub(super) fn building<R>(&self, build: impl FnOnce(&ClientStackConfig) -> R) -> R {
        build(&self.config.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn live(&self) -> MutexGuard<'_, (Vec<Guards>, usize)> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an endpoint's guards for reloads while `alive` lives.
    pub(super) fn register(
        &self,
        alive: &Arc<()>,
        breaker: Option<CircuitBreakerHandle>,
        bulkhead: Option<BulkheadHandle>,
        timeout: Option<TimeoutHandle>,
    ) {
        let mut live = self.live();
        let (guards, prune_at) = &mut *live;
        if guards.len() >= *prune_at {
            guards.retain(|g| g.alive.strong_count() > 0);
            *prune_at = (2 * guards.len()).max(64);
        }
        guards.push(Guards {
            alive: Arc::downgrade(alive),
            breaker,
            bulkhead,
            timeout,
        });
    }

    /// Whether every live endpoint's guards would take `plan`.
    pub(super) fn check(&self, plan: &GuardPlan<'_>) -> Result<(), ConfigError> {
        self.each(|guards| {
            live::check("breaker", guards.breaker.as_ref(), plan.breaker)?;
            live::check("bulkhead", guards.bulkhead.as_ref(), plan.bulkhead)?;
            live::check("timeout", guards.timeout.as_ref(), plan.timeout)
        })
    }

    /// Applies `plan` to every live endpoint's guards, and builds the
    /// endpoints added from now on from `config`.
    pub(super) fn apply(
        &self,
        plan: &GuardPlan<'_>,
        config: &ClientStackConfig,
    ) -> Result<(), ConfigError> {
        // Held across the change (see `building`).
        let mut sections = self.config.lock().unwrap_or_else(|e| e.into_inner());
        self.each(|guards| {
            live::apply("breaker", guards.breaker.as_ref(), plan.breaker)?;
            live::apply("bulkhead", guards.bulkhead.as_ref(), plan.bulkhead)?;
            live::apply("timeout", guards.timeout.as_ref(), plan.timeout)
        })?;
        *sections = config.clone();
        Ok(())
    }

    fn each(
        &self,
        mut act: impl FnMut(&Guards) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let live = self.live();
        live.0
            .iter()
            .filter(|guards| guards.alive.strong_count() > 0)
            .try_for_each(&mut act)
    }
}
