//! A telemetry sink counting every layer's rejections and fallbacks, by
//! reason and by phase, for the summary.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use buttress::Reason;
use buttress::core::telemetry::{self, Event, LayerId, LayerReporter, TelemetrySink};

use super::scenario::Scenario;
use super::services::Counters;

/// The run whose layers are being built now.
static CURRENT: Mutex<Option<(Scenario, Arc<Counters>)>> = Mutex::new(None);

/// Makes the counting sink the process-wide one (once), and sends the
/// events of layers built from now on to `counters`.
pub fn install(scenario: &Scenario, counters: &Arc<Counters>) {
    *CURRENT.lock().unwrap() = Some((scenario.clone(), counters.clone()));
    let _ = telemetry::install_global(CountingSink);
}

struct CountingSink;

impl TelemetrySink for CountingSink {
    fn register(&self, _layer: &LayerId) -> Arc<dyn LayerReporter> {
        match CURRENT.lock().unwrap().clone() {
            Some((scenario, counters)) => Arc::new(Counting { scenario, counters }),
            None => Arc::new(telemetry::NoopReporter),
        }
    }
}

struct Counting {
    scenario: Scenario,
    counters: Arc<Counters>,
}

pub fn reason_index(reason: Reason) -> usize {
    Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

impl LayerReporter for Counting {
    fn report(&self, event: Event) {
        let phase = self.scenario.phase_now().index();
        match event {
            Event::Rejected(reason) => {
                self.counters.rejections[phase][reason_index(reason)]
                    .fetch_add(1, Ordering::Relaxed);
            }
            Event::FallbackServed(_) => {
                self.counters.fallbacks[phase].fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
