//! A telemetry sink that records what the Buttress layers did — every
//! refusal with its reason, every fallback answer, every breaker and
//! shedder state — with the time, for the summary and the charts.

use std::sync::{Arc, Mutex};

use buttress::core::telemetry::{self, Event, LayerId, LayerKind, LayerReporter, TelemetrySink};

use super::counters::{Counters, Mark, What};
use super::scenario::Scenario;

/// The run whose layers are being built now.
static CURRENT: Mutex<Option<(Scenario, Arc<Counters>)>> = Mutex::new(None);

/// Makes the recording sink the process-wide one (once), and sends the
/// events of layers built from now on to `counters`.
pub fn install(scenario: &Scenario, counters: &Arc<Counters>) {
    *CURRENT.lock().unwrap() = Some((scenario.clone(), counters.clone()));
    let _ = telemetry::install_global(RecordingSink);
}

struct RecordingSink;

impl TelemetrySink for RecordingSink {
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter> {
        match CURRENT.lock().unwrap().clone() {
            Some((scenario, counters)) => Arc::new(Recording {
                scenario,
                counters,
                layer: layer.to_string().into(),
                stateful: matches!(layer.kind(), LayerKind::Breaker | LayerKind::Shed),
            }),
            None => Arc::new(telemetry::NoopReporter),
        }
    }
}

struct Recording {
    scenario: Scenario,
    counters: Arc<Counters>,
    /// `kind/name`, as `breaker/c`.
    layer: Arc<str>,
    /// Whether its states are worth a chart (breakers and shedders).
    stateful: bool,
}

impl LayerReporter for Recording {
    fn report(&self, event: Event) {
        let what = match event {
            Event::Rejected(reason) => What::Rejected(reason),
            Event::FallbackServed(_) => What::Fallback,
            Event::StateChanged { to, .. } | Event::State(to) if self.stateful => What::State(to),
            _ => return,
        };
        self.counters.mark(Mark {
            at: self.scenario.elapsed(),
            layer: self.layer.clone(),
            what,
        });
    }
}
