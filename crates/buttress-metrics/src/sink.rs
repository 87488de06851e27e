//! The telemetry sink that feeds the `metrics` facade and `tracing`.

use std::sync::Arc;

use buttress_core::telemetry::{
    self, AlreadyInstalled, LayerId, LayerKind, LayerReporter, NameClaim, NoopReporter,
    TelemetrySink,
};

use crate::Health;
use crate::reporter::LayerMetrics;

/// Turns every layer's events into metrics (through whatever `metrics`
/// recorder is installed) and `tracing` events, and keeps the [`Health`]
/// view current.
///
/// Handles are resolved when a layer registers, against the recorder
/// installed at that moment: install the recorder (e.g. the Prometheus
/// exporter) first, then this sink. Only the series a layer's kind can
/// emit are registered ([`LayerKind::emits`]).
///
/// Two live layers of one kind under one name would merge into one set
/// of series: the later one reports as `name#2` (in metrics and in the
/// health report), and a warning is logged (see [`NameClaim`]).
///
/// ```
/// use buttress_core::telemetry::{Event, LayerKind, Telemetry};
/// use buttress_metrics::MetricsSink;
///
/// let sink = MetricsSink::new();
/// let breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
/// breaker.report(Event::StateChanged { from: "closed", to: "open" });
/// assert!(sink.health().report_json().contains("\"state\":\"open\""));
///
/// // A second live breaker named "payments" gets a name of its own.
/// let _twin = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
/// assert!(sink.health().report_json().contains("\"name\":\"payments#2\""));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MetricsSink {
    health: Health,
}

impl MetricsSink {
    /// A sink with its own health view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The health view this sink keeps current.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

impl TelemetrySink for MetricsSink {
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter> {
        if layer.kind() == LayerKind::Red {
            // A RED layer records its own metrics and reports no events:
            // per-layer counters for it would stay at zero and break the
            // reconciliation of `buttress.admitted` with requests seen.
            return Arc::new(NoopReporter);
        }
        let claim = NameClaim::claim(recorder_space(), layer);
        let status = self.health.track(claim.id());
        Arc::new(LayerMetrics::new(claim, status))
    }
}

/// The recorder handles are resolved against now, as the space where
/// layer names must be distinct: layers reporting into different
/// recorders never merge.
pub(crate) fn recorder_space() -> usize {
    metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>() as usize)
}

/// Installs a [`MetricsSink`] as the process-wide telemetry sink — layers
/// built before and after report to it — describes every metric to the
/// installed `metrics` recorder, and returns the health view. Install the
/// recorder (an exporter) first.
///
/// ```
/// let health = buttress_metrics::install().expect("first install");
/// assert!(health.is_ready());
/// assert!(buttress_metrics::install().is_err());
/// ```
pub fn install() -> Result<Health, AlreadyInstalled> {
    crate::describe();
    let sink = MetricsSink::new();
    let health = sink.health().clone();
    telemetry::install_global(sink)?;
    Ok(health)
}
