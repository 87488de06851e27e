//! Changing a built stack's settings while it serves: what may change,
//! checked for every layer before any layer changes.
//!
//! A layer whose handle implements `Reconfigure` takes new settings live
//! (the retry, the throttle, the breaker, the bulkhead, the adaptive
//! limit, the shedder, the rate limit's quotas, the timeout, and the
//! context's deadlines with the server's timeout). Any other layer must keep its settings,
//! and no layer may be turned on or off: the stack's type and its chain
//! of services were fixed when it was built. A refused change names the
//! section and field, and changes nothing.

use std::sync::{Mutex, MutexGuard};

use buttress_core::config::ConfigError;
use buttress_core::layer::{LayerConfig, Reconfigure};

use super::Toggle;

/// What a layer that cannot change live requires of a new config.
pub(super) fn unchanged<C: PartialEq>(
    section: &'static str,
    running: &Toggle<C>,
    new: &Toggle<C>,
) -> Result<(), ConfigError> {
    if running == new {
        Ok(())
    } else {
        Err(ConfigError::new(
            section,
            "cannot change while the service runs; restart to apply",
        ))
    }
}

/// A live layer's new settings, resolved with the stack's `default`:
/// `None` for a layer that is off and stays off.
pub(super) fn resolved<C: LayerConfig + Clone>(
    section: &'static str,
    running: &Toggle<C>,
    new: &Toggle<C>,
    default: impl Fn() -> Option<C>,
) -> Result<Option<C>, ConfigError> {
    match (running.resolve(&default).is_some(), new.resolve(&default)) {
        (true, Some(config)) => Ok(Some(config)),
        (false, None) => Ok(None),
        _ => Err(ConfigError::new(
            section,
            "turning a layer on or off needs a restart",
        )),
    }
}

/// Checks `config` against the running layer behind `handle`.
pub(super) fn check<H: Reconfigure>(
    section: &str,
    handle: Option<&H>,
    config: &Option<H::Config>,
) -> Result<(), ConfigError> {
    match (handle, config) {
        (Some(handle), Some(config)) => handle.check(config).map_err(|e| e.in_section(section)),
        _ => Ok(()),
    }
}

/// Applies a config [`check`] accepted.
pub(super) fn apply<H: Reconfigure>(
    section: &str,
    handle: Option<&H>,
    config: &Option<H::Config>,
) -> Result<(), ConfigError> {
    match (handle, config) {
        (Some(handle), Some(config)) => handle
            .reconfigure(config)
            .map_err(|e| e.in_section(section)),
        _ => Ok(()),
    }
}

/// A built stack's live layers: what a new config changes, and changing it.
pub(super) trait LiveLayers {
    /// The stack's config.
    type Config: Clone;
    /// The checked changes.
    type Plan;

    /// Checks `new` against the `running` config and every live layer,
    /// changing nothing.
    fn plan(&self, running: &Self::Config, new: &Self::Config) -> Result<Self::Plan, ConfigError>;

    /// Applies a plan `plan` made.
    fn apply(&self, plan: &Self::Plan) -> Result<(), ConfigError>;
}

/// The config a built stack runs with, changed only through its
/// [`LiveLayers`], one reload at a time.
#[derive(Debug)]
pub(super) struct Running<C>(Mutex<C>);

impl<C: Clone> Running<C> {
    pub(super) fn new(config: C) -> Self {
        Running(Mutex::new(config))
    }

    fn lock(&self) -> MutexGuard<'_, C> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The config now.
    pub(super) fn get(&self) -> C {
        self.lock().clone()
    }

    /// Checks `new` against every live layer, then applies it; `keep`
    /// makes the config recorded from the running one and `new`.
    pub(super) fn reload<L: LiveLayers<Config = C>>(
        &self,
        layers: &L,
        new: &C,
        keep: impl FnOnce(&C, &C) -> C,
    ) -> Result<(), ConfigError> {
        let mut running = self.lock();
        let plan = layers.plan(&running, new)?;
        layers.apply(&plan)?;
        *running = keep(&running, new);
        Ok(())
    }

    /// Whether [`reload`](Self::reload) would take `new`.
    pub(super) fn check<L: LiveLayers<Config = C>>(
        &self,
        layers: &L,
        new: &C,
    ) -> Result<(), ConfigError> {
        layers.plan(&self.lock(), new).map(drop)
    }
}
