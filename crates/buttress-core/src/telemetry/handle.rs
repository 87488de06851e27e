//! The handle a layer keeps and reports through.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::event::{Event, LayerId, LayerKind};
use super::sink::{self, LayerReporter, NoopReporter, TelemetrySink};

/// One layer's link to its sink, bound once.
pub(super) struct Binding {
    id: LayerId,
    reporter: OnceLock<Arc<dyn LayerReporter>>,
}

impl Binding {
    pub(super) fn bind(&self, sink: &dyn TelemetrySink) {
        self.reporter.get_or_init(|| sink.register(&self.id));
    }
}

/// A layer's telemetry handle: created once when the layer is built, held
/// in its shared state, cloned with it.
///
/// Reporting an event is a load and a call through the sink's reporter —
/// no lock, no allocation, no formatting. A handle registered against the
/// global sink before one is installed drops its events until then, and
/// reports to the sink from the moment it is installed (late binding).
///
/// ```
/// use buttress_core::telemetry::{Event, LayerKind, RecordingSink, Telemetry};
/// use buttress_core::Reason;
///
/// let sink = RecordingSink::new();
/// let telemetry = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
/// telemetry.report(Event::Rejected(Reason::CircuitOpen));
///
/// let events = sink.events_for("payments");
/// assert_eq!(events, vec![Event::Rejected(Reason::CircuitOpen)]);
/// ```
#[derive(Clone)]
pub struct Telemetry {
    binding: Arc<Binding>,
}

impl Telemetry {
    /// Registers a layer with the process-wide sink (see
    /// [`install_global`](super::install_global)), now or when it is
    /// installed.
    pub fn register(kind: LayerKind, name: impl Into<std::sync::Arc<str>>) -> Self {
        let telemetry = Self::unbound(LayerId::new(kind, name));
        sink::await_global(&telemetry.binding);
        telemetry
    }

    /// Registers a layer with its own sink, bypassing the global one.
    pub fn with_sink(
        sink: &dyn TelemetrySink,
        kind: LayerKind,
        name: impl Into<std::sync::Arc<str>>,
    ) -> Self {
        let telemetry = Self::unbound(LayerId::new(kind, name));
        telemetry.binding.bind(sink);
        telemetry
    }

    /// A handle that reports nowhere.
    pub fn disabled(kind: LayerKind, name: impl Into<std::sync::Arc<str>>) -> Self {
        let telemetry = Self::unbound(LayerId::new(kind, name));
        let _ = telemetry.binding.reporter.set(Arc::new(NoopReporter));
        telemetry
    }

    fn unbound(id: LayerId) -> Self {
        Telemetry {
            binding: Arc::new(Binding {
                id,
                reporter: OnceLock::new(),
            }),
        }
    }

    /// Reports one event.
    #[inline]
    pub fn report(&self, event: Event) {
        if let Some(reporter) = self.binding.reporter.get() {
            reporter.report(event);
        }
    }

    /// The layer this handle speaks for.
    pub fn layer(&self) -> &LayerId {
        &self.binding.id
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("layer", &self.binding.id)
            .field("bound", &self.binding.reporter.get().is_some())
            .finish()
    }
}
