//! Sinks, and the process-wide default one.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::event::{Event, LayerId};
use super::handle::Binding;

/// Where layers' events go: a metrics backend, a log, a test recorder.
///
/// A layer registers once, when it is built, and keeps the returned
/// [`LayerReporter`]; per request it only calls [`LayerReporter::report`].
/// That split is what keeps the request path cheap: the sink resolves
/// metric handles and labels in `register`, never per event.
pub trait TelemetrySink: Send + Sync + 'static {
    /// Registers a layer and returns the reporter its events go through.
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter>;
}

/// Receives one layer's events. Called on the request path: an
/// implementation must not block, format or allocate.
pub trait LayerReporter: Send + Sync + 'static {
    /// Reports one event.
    fn report(&self, event: Event);

    /// Hands the sink a way to read the layer's running settings, as a
    /// JSON object, for an admin view: called when the layer is built
    /// (or when a late sink binds), never on the request path. The
    /// function answers `None` once the layer is gone. The default keeps
    /// nothing.
    fn describe(&self, _settings: Describer) {}
}

/// Reads a layer's running settings as a JSON object; `None` once the
/// layer is gone. See [`Telemetry::describe_with`](super::Telemetry::describe_with).
pub type Describer = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// A reporter that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopReporter;

impl LayerReporter for NoopReporter {
    fn report(&self, _event: Event) {}
}

/// A sink that drops everything: for layers that must not report on their
/// own — a balancer's per-endpoint layers past its label cap, its
/// ejection breakers — without touching the global sink or claiming a
/// name.
///
/// ```
/// use buttress_core::telemetry::{Event, LayerKind, QuietSink, Telemetry};
///
/// let quiet = Telemetry::with_sink(&QuietSink, LayerKind::Breaker, "unlabelled");
/// quiet.report(Event::Admitted); // goes nowhere
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietSink;

impl TelemetrySink for QuietSink {
    fn register(&self, _layer: &LayerId) -> Arc<dyn LayerReporter> {
        Arc::new(NoopReporter)
    }
}

/// The global sink was already installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyInstalled;

impl fmt::Display for AlreadyInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global telemetry sink is already installed")
    }
}

impl std::error::Error for AlreadyInstalled {}

static GLOBAL: OnceLock<Arc<dyn TelemetrySink>> = OnceLock::new();

/// Layers built while no global sink was installed, so that installing one
/// later binds them too. Touched only when a layer is built and when the
/// sink is installed, never on the request path.
static WAITING: Mutex<Vec<Weak<Binding>>> = Mutex::new(Vec::new());

/// Installs the process-wide sink that layers report to unless given their
/// own. Once per process, like `metrics::set_global_recorder`; layers built
/// before the call are bound to it too, and first tell it their current
/// state and gauges (their [`Replay`](super::Replay)).
///
/// ```
/// use buttress_core::telemetry::{self, LayerKind, RecordingSink, Telemetry, Event};
///
/// let built_early = Telemetry::register(LayerKind::Bulkhead, "payments");
/// let sink = RecordingSink::new();
/// telemetry::install_global(sink.clone()).unwrap();
/// built_early.report(Event::Admitted);
/// assert_eq!(sink.events().len(), 1);
/// ```
pub fn install_global(sink: impl TelemetrySink) -> Result<(), AlreadyInstalled> {
    let sink: Arc<dyn TelemetrySink> = Arc::new(sink);
    GLOBAL.set(sink.clone()).map_err(|_| AlreadyInstalled)?;
    let waiting = std::mem::take(&mut *WAITING.lock().unwrap_or_else(|e| e.into_inner()));
    for binding in waiting.iter().filter_map(Weak::upgrade) {
        binding.bind_late(&*sink);
    }
    Ok(())
}

/// The installed global sink, if any.
pub fn global() -> Option<&'static Arc<dyn TelemetrySink>> {
    GLOBAL.get()
}

/// Remembers a layer that awaits the global sink. If the sink arrived in
/// the meantime, binds it now (the other half of that race is in
/// [`install_global`], which takes the list under the same lock).
pub(super) fn await_global(binding: &Arc<Binding>) {
    let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sink) = GLOBAL.get() {
        drop(waiting);
        binding.bind(&**sink);
        return;
    }
    waiting.retain(|weak| weak.strong_count() > 0);
    waiting.push(Arc::downgrade(binding));
}

/// A shared sink is a sink: many environments and layers can hold one.
impl<T: TelemetrySink + ?Sized> TelemetrySink for Arc<T> {
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter> {
        (**self).register(layer)
    }
}
