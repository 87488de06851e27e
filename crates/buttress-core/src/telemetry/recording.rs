//! A sink that records every event, for tests.

use std::sync::{Arc, Mutex, MutexGuard};

use super::event::{Event, LayerId};
use super::sink::{LayerReporter, TelemetrySink};

#[derive(Default)]
struct Log {
    registered: Vec<LayerId>,
    events: Vec<(LayerId, Event)>,
}

/// Records what layers register and report, so tests can assert on it.
///
/// Clones share one log. Not for production: it keeps every event and
/// takes a lock per event.
///
/// ```
/// use buttress_core::telemetry::{Event, LayerKind, RecordingSink, Telemetry};
///
/// let sink = RecordingSink::new();
/// let retry = Telemetry::with_sink(&sink, LayerKind::Retry, "inventory");
/// retry.report(Event::BudgetExhausted);
/// assert_eq!(sink.count(|id, event| id.name() == "inventory" && *event == Event::BudgetExhausted), 1);
/// assert_eq!(sink.registered()[0].kind(), LayerKind::Retry);
/// ```
#[derive(Clone, Default)]
pub struct RecordingSink {
    log: Arc<Mutex<Log>>,
}

impl RecordingSink {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty recorder with room for `events` events, so that recording
    /// them does not allocate (for allocation-counting tests).
    pub fn with_capacity(events: usize) -> Self {
        let sink = Self::default();
        sink.lock().events.reserve(events);
        sink
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        // A test that panicked while recording must not hide the log from
        // the next assertion.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every layer registered so far, in order.
    pub fn registered(&self) -> Vec<LayerId> {
        self.lock().registered.clone()
    }

    /// Every event so far, with the layer that reported it.
    pub fn events(&self) -> Vec<(LayerId, Event)> {
        self.lock().events.clone()
    }

    /// The events reported by layers named `name`.
    pub fn events_for(&self, name: &str) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|(id, _)| id.name() == name)
            .map(|(_, event)| *event)
            .collect()
    }

    /// How many events match `predicate`.
    pub fn count(&self, predicate: impl Fn(&LayerId, &Event) -> bool) -> usize {
        self.lock()
            .events
            .iter()
            .filter(|(id, event)| predicate(id, event))
            .count()
    }

    /// Forgets the events recorded so far (keeps the registrations).
    pub fn clear(&self) {
        self.lock().events.clear();
    }
}

impl std::fmt::Debug for RecordingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.lock();
        f.debug_struct("RecordingSink")
            .field("registered", &log.registered.len())
            .field("events", &log.events.len())
            .finish()
    }
}

struct RecordingReporter {
    id: LayerId,
    log: Arc<Mutex<Log>>,
}

impl LayerReporter for RecordingReporter {
    fn report(&self, event: Event) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Cloning the id bumps a reference count; it does not allocate.
        log.events.push((self.id.clone(), event));
    }
}

impl TelemetrySink for RecordingSink {
    fn register(&self, layer: &LayerId) -> Arc<dyn LayerReporter> {
        self.lock().registered.push(layer.clone());
        Arc::new(RecordingReporter {
            id: layer.clone(),
            log: self.log.clone(),
        })
    }
}
