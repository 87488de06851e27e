//! What a stack builder holds for each layer, and the telemetry sink it
//! hands to every layer it builds.

use std::sync::Arc;

use buttress_core::telemetry::{LayerId, LayerReporter, TelemetrySink};

/// One layer of a stack builder: the stack's default, one given by the
/// caller, or left out.
#[derive(Debug, Clone)]
pub(crate) enum Slot<T> {
    Default,
    Given(T),
    Off,
}

impl<T> Slot<T> {
    /// Builds the layer: the default with `default`, a given one with
    /// `given`; `None` when left out.
    pub(crate) fn build<L, E>(
        self,
        default: impl FnOnce() -> Result<L, E>,
        given: impl FnOnce(T) -> Result<L, E>,
    ) -> Result<Option<L>, E> {
        match self {
            Slot::Default => default().map(Some),
            Slot::Given(value) => given(value).map(Some),
            Slot::Off => Ok(None),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        !matches!(self, Slot::Off)
    }
}

/// A sink shared by every layer of one stack (builders take
/// `impl TelemetrySink`, and an `Arc<dyn TelemetrySink>` is not one).
#[derive(Clone)]
pub(crate) struct SharedSink(pub(crate) Arc<dyn TelemetrySink>);

impl TelemetrySink for SharedSink {
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter> {
        self.0.register(layer)
    }
}
