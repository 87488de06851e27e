//! A layer built before the global sink is installed tells the sink its
//! current state and gauges when it binds (its `Replay`), whenever it gave
//! the replay; a layer bound when it registered is not replayed.
//!
//! One test, in a process of its own: the global sink is installed once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use buttress_core::telemetry::{
    self, Event, GaugeKind, LayerKind, RecordingSink, Replay, Telemetry,
};

/// A layer with one gauge and one state.
struct Layer {
    in_flight: AtomicU64,
    open: std::sync::atomic::AtomicBool,
}

impl Layer {
    fn new(in_flight: u64, open: bool) -> Arc<Self> {
        Arc::new(Layer {
            in_flight: AtomicU64::new(in_flight),
            open: open.into(),
        })
    }
}

impl Replay for Layer {
    fn replay(&self, report: &mut dyn FnMut(Event)) {
        let state = if self.open.load(Ordering::Acquire) {
            "open"
        } else {
            "closed"
        };
        report(Event::State(state));
        report(Event::Gauge {
            kind: GaugeKind::InFlight,
            value: self.in_flight.load(Ordering::Acquire) as f64,
        });
    }
}

fn replayed(state: &'static str, in_flight: f64) -> Vec<Event> {
    vec![
        Event::State(state),
        Event::Gauge {
            kind: GaugeKind::InFlight,
            value: in_flight,
        },
    ]
}

#[test]
fn layers_built_before_the_sink_replay_their_state_when_it_binds() {
    // Built, given its replay, and changed, all before the install.
    let early = Telemetry::register(LayerKind::Breaker, "early");
    let early_layer = Layer::new(0, false);
    early.replay_on_bind(&early_layer);
    early_layer.open.store(true, Ordering::Release);
    early_layer.in_flight.store(2, Ordering::Release);
    early.report(Event::Admitted); // dropped: nothing bound yet

    // Registered before the install, its replay given only after it.
    let between = Telemetry::register(LayerKind::Bulkhead, "between");

    // A layer whose state went away before the install: nothing to tell.
    let gone = Telemetry::register(LayerKind::Breaker, "gone");
    gone.replay_on_bind(&Layer::new(9, true));

    // Bound to its own sink when registered: its own reports suffice.
    let own = RecordingSink::new();
    let own_telemetry = Telemetry::with_sink(&own, LayerKind::Breaker, "own");
    own_telemetry.replay_on_bind(&Layer::new(1, true));
    assert!(own.events().is_empty());

    let sink = RecordingSink::new();
    telemetry::install_global(sink.clone()).unwrap();
    assert_eq!(sink.events_for("early"), replayed("open", 2.0));
    assert!(sink.events_for("gone").is_empty());
    assert!(sink.events_for("between").is_empty());

    // The replay arrives when given, the sink having bound already.
    let between_layer = Layer::new(5, false);
    between.replay_on_bind(&between_layer);
    assert_eq!(sink.events_for("between"), replayed("closed", 5.0));

    // After the replay, the layer's own reports follow as usual.
    early.report(Event::StateChanged {
        from: "open",
        to: "half_open",
    });
    assert_eq!(sink.events_for("early").len(), 3);

    // Registered after the install: bound at once, nothing replayed.
    let late = Telemetry::register(LayerKind::Breaker, "late");
    late.replay_on_bind(&Layer::new(3, true));
    assert!(sink.events_for("late").is_empty());
    assert!(own.events().is_empty());
}
