//! [`ChaosHandle`] and [`ChaosStats`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use buttress_core::layer::LayerHandle;
use buttress_core::telemetry::LayerId;

use crate::shared::Shared;

/// Switches a chaos layer on and off at run time and reads its counters;
/// from [`ChaosLayer::handle`](crate::ChaosLayer::handle).
///
/// A game day starts with faults configured and the layer disabled, turns
/// it on, watches, and turns it off again without a redeploy.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_chaos::ChaosLayer;
/// use buttress_core::layer::LayerHandle;
///
/// let layer = ChaosLayer::builder()
///     .name("recs")
///     .configure(|c| c.enabled = false)
///     .build()
///     .unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "recs");
/// assert!(!handle.is_enabled());
/// handle.enable();
/// assert!(layer.handle().is_enabled());
/// assert_eq!(handle.stats().calls, 0);
/// ```
#[derive(Clone)]
pub struct ChaosHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ChaosHandle {
    /// Lets the layer inject faults (the state it is built in).
    pub fn enable(&self) {
        self.shared.enabled.store(true, Ordering::Relaxed);
    }

    /// Stops all injection: every call passes untouched (faults already
    /// under way finish).
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether the layer may inject faults.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Faults active now (delays under way).
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// The counters so far.
    pub fn stats(&self) -> ChaosStats {
        let c = &self.shared.counters;
        ChaosStats {
            calls: c.calls.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
            aborted: c.aborted.load(Ordering::Relaxed),
            capped: c.capped.load(Ordering::Relaxed),
            ignored_directives: c.ignored.load(Ordering::Relaxed),
            peak_active: c.peak_active.load(Ordering::Relaxed),
        }
    }
}

impl LayerHandle for ChaosHandle {
    fn id(&self) -> &LayerId {
        self.shared.telemetry.layer()
    }
}

impl std::fmt::Debug for ChaosHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosHandle")
            .field("id", self.id())
            .field("enabled", &self.is_enabled())
            .field("stats", &self.stats())
            .finish()
    }
}

/// What a chaos layer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChaosStats {
    /// Calls that reached the layer.
    pub calls: u64,
    /// Calls delayed.
    pub delayed: u64,
    /// Calls aborted (counted when the abort fires, after any delay).
    pub aborted: u64,
    /// Faults not injected because the active-fault cap was reached.
    pub capped: u64,
    /// Bad or over-long header directives ignored (and logged).
    pub ignored_directives: u64,
    /// The most faults that were ever active at once.
    pub peak_active: usize,
}
