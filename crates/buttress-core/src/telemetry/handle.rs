//! The handle a layer keeps and reports through.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::event::{Event, LayerId, LayerKind};
use super::sink::{self, Describer, LayerReporter, NoopReporter, TelemetrySink};

/// A layer's current state and gauges, told as the events that say so.
///
/// A layer reports a state or a gauge when it changes. A sink that binds
/// to the layer after it was built — the global sink installed after the
/// layer ([`install_global`](super::install_global)) — missed those
/// reports, and would show what a fresh layer shows (a breaker `closed`,
/// gauges at zero) until the next change, and then only half of the
/// truth. So a layer with state or gauges gives its handle a replay
/// ([`Telemetry::replay_on_bind`]), and the sink hears it as soon as it
/// binds, before trusting the changes that follow.
///
/// `replay` runs while the layer takes traffic: it should report each
/// value as it reads it, and read it again after reporting (reporting
/// again if it moved meanwhile), so that a change racing the replay is
/// not overwritten by an older value.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use buttress_core::telemetry::{self, Event, GaugeKind, LayerKind, RecordingSink, Replay, Telemetry};
///
/// struct Pool { in_flight: AtomicU64 }
///
/// impl Replay for Pool {
///     fn replay(&self, report: &mut dyn FnMut(Event)) {
///         let value = self.in_flight.load(Ordering::Acquire) as f64;
///         report(Event::Gauge { kind: GaugeKind::InFlight, value });
///     }
/// }
///
/// // Built, and busy, before any sink is installed.
/// let telemetry = Telemetry::register(LayerKind::Bulkhead, "replayed-pool");
/// let pool = Arc::new(Pool { in_flight: AtomicU64::new(3) });
/// telemetry.replay_on_bind(&pool);
///
/// let sink = RecordingSink::new();
/// telemetry::install_global(sink.clone()).unwrap();
/// assert_eq!(
///     sink.events_for("replayed-pool"),
///     vec![Event::Gauge { kind: GaugeKind::InFlight, value: 3.0 }],
/// );
/// ```
pub trait Replay: Send + Sync + 'static {
    /// Reports the layer's current state and gauges through `report`.
    fn replay(&self, report: &mut dyn FnMut(Event));
}

/// One layer's link to its sink, bound once.
pub(super) struct Binding {
    id: LayerId,
    reporter: OnceLock<Arc<dyn LayerReporter>>,
    /// Touched when the layer is built and when the sink binds, never on
    /// the request path.
    late: Mutex<Late>,
}

/// What a binding made after the layer was built needs.
#[derive(Default)]
struct Late {
    /// The layer's replay, once it has given one.
    replay: Option<Weak<dyn Replay>>,
    /// The layer's settings reader, once it has given one.
    describer: Option<Describer>,
    /// Whether the sink bound after the layer registered.
    bound: bool,
}

impl Binding {
    pub(super) fn bind(&self, sink: &dyn TelemetrySink) {
        self.reporter.get_or_init(|| sink.register(&self.id));
    }

    /// Binds a layer that registered before the sink was there: the sink
    /// first hears the layer's replay, if it has given one yet (else it
    /// hears it when the layer gives it).
    pub(super) fn bind_late(&self, sink: &dyn TelemetrySink) {
        self.bind(sink);
        let mut late = self.late();
        late.bound = true;
        if let Some(replay) = late.replay.as_ref().and_then(Weak::upgrade) {
            self.replay(&*replay);
        }
        if let (Some(describer), Some(reporter)) = (&late.describer, self.reporter.get()) {
            reporter.describe(describer.clone());
        }
    }

    fn late(&self) -> std::sync::MutexGuard<'_, Late> {
        self.late.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `replay` into the bound reporter. Under the `late` lock, so a
    /// replay runs once.
    fn replay(&self, replay: &dyn Replay) {
        if let Some(reporter) = self.reporter.get() {
            replay.replay(&mut |event| reporter.report(event));
        }
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
                late: Mutex::new(Late::default()),
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

    /// Lets the sink read the layer's running settings, as a JSON object,
    /// for an admin view (the metrics sink shows them as `config` in its
    /// layer report): `settings` reads them from the layer's shared state
    /// `owner`, which is held weakly (it usually holds this handle), so a
    /// dropped layer answers nothing. Given now if the handle is bound,
    /// else when a sink binds it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use buttress_core::telemetry::{LayerKind, Telemetry};
    ///
    /// struct Shared { limit: Mutex<u32> }
    /// let shared = Arc::new(Shared { limit: Mutex::new(8) });
    /// let telemetry = Telemetry::disabled(LayerKind::Bulkhead, "orders");
    /// telemetry.describe_with(&shared, |shared| {
    ///     Some(format!("{{\"limit\":{}}}", shared.limit.lock().unwrap()))
    /// });
    /// ```
    pub fn describe_with<T, F>(&self, owner: &Arc<T>, settings: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Option<String> + Send + Sync + 'static,
    {
        let owner = Arc::downgrade(owner);
        let describer: Describer = Arc::new(move || owner.upgrade().and_then(&settings));
        let mut late = self.binding.late();
        late.describer = Some(describer.clone());
        if let Some(reporter) = self.binding.reporter.get() {
            reporter.describe(describer);
        }
    }

    /// [`describe_with`](Self::describe_with) for the usual shape: the
    /// layer's shared state `owner` keeps its running config in a
    /// `Mutex` that `current` finds; the sink reads it as JSON.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use buttress_core::telemetry::{LayerKind, Telemetry};
    /// use buttress_core::timeout::TimeoutConfig;
    ///
    /// struct Shared { current: Mutex<TimeoutConfig> }
    /// let shared = Arc::new(Shared { current: Mutex::new(TimeoutConfig::default()) });
    /// Telemetry::disabled(LayerKind::Timeout, "orders").describe_config(&shared, |s| &s.current);
    /// ```
    pub fn describe_config<T, C>(&self, owner: &Arc<T>, current: fn(&T) -> &Mutex<C>)
    where
        T: Send + Sync + 'static,
        C: serde::Serialize + 'static,
    {
        self.describe_with(owner, move |owner| {
            let config = current(&owner).lock().unwrap_or_else(|e| e.into_inner());
            super::settings_json(&*config)
        });
    }

    /// Gives this handle the layer's [`Replay`]: if the handle binds to
    /// the global sink after the layer was built (the sink installed
    /// later), the sink hears the replay as soon as it binds — or now, if
    /// it already bound late. A handle bound when it was registered (its
    /// own sink, or a global one already installed) needs none: the layer
    /// reports its first state itself. Held weakly (the layer's state
    /// usually holds this handle); the latest replay given wins.
    pub fn replay_on_bind<R: Replay>(&self, layer: &Arc<R>) {
        let replay: Weak<dyn Replay> = Arc::downgrade(layer) as Weak<dyn Replay>;
        let mut late = self.binding.late();
        late.replay = Some(replay);
        if late.bound {
            self.binding.replay(&**layer);
        }
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
