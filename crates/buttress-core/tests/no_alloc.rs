//! The request path of the core vocabulary allocates nothing
//! (ARCHITECTURE.md, rule 2 "The hot path is cheap"), measured by a
//! counting global allocator.

use std::time::Duration;

use buttress_core::classify::{AnyErrorFails, Classify, GrpcClassifier, HttpClassifier, Outcome};
use buttress_core::keyed::{KeyedMap, KeyedState};
use buttress_core::telemetry::{Event, GaugeKind, LayerKind, RecordingSink, Telemetry};
use buttress_core::{BoxError, Reason, Rejected};
use tokio::time::Instant;

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

#[test]
fn classifying_allocates_nothing() {
    let http_ok = http::Response::builder().status(200).body(()).unwrap();
    let http_busy = http::Response::builder().status(503).body(()).unwrap();
    let grpc = http::Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", "14")
        .body(())
        .unwrap();
    let rejected: BoxError = Rejected::new(Reason::BulkheadFull).into();
    let transport = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    let http = HttpClassifier::default();
    let grpc_classifier = GrpcClassifier::default();

    let count = allocations(|| {
        for _ in 0..1_000 {
            assert_eq!(http.classify(Ok(&http_ok)), Outcome::Success);
            assert_eq!(http.classify(Ok(&http_busy)), Outcome::Failure);
            assert_eq!(grpc_classifier.classify(Ok(&grpc)), Outcome::Failure);
            assert_eq!(
                Classify::<http::Response<()>>::classify(&http, Err(&*rejected)),
                Outcome::Ignored
            );
            assert_eq!(
                Classify::<()>::classify(&AnyErrorFails, Err(&transport)),
                Outcome::Failure
            );
            assert!(Rejected::find(&*rejected).is_some());
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn reporting_through_a_registered_handle_allocates_nothing() {
    // Room reserved up front: what is measured is the handle's path, not
    // the test sink's log growing.
    let sink = RecordingSink::with_capacity(10_000);
    let own = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
    let global = Telemetry::register(LayerKind::Bulkhead, "inventory");
    let disabled = Telemetry::disabled(LayerKind::Retry, "search");

    let count = allocations(|| {
        for i in 0..1_000u32 {
            own.report(Event::Admitted);
            own.report(Event::Rejected(Reason::CircuitOpen));
            own.report(Event::Completed {
                outcome: Outcome::Failure,
                duration: Duration::from_millis(u64::from(i)),
            });
            own.report(Event::StateChanged {
                from: "closed",
                to: "open",
            });
            own.report(Event::Gauge {
                kind: GaugeKind::InFlight,
                value: f64::from(i),
            });
            global.report(Event::Admitted);
            disabled.report(Event::BudgetExhausted);
        }
    });
    assert_eq!(count, 0);
    assert_eq!(sink.events_for("payments").len(), 5_000);
}

struct Quiet;

impl KeyedState for Quiet {
    fn is_neutral(&self, _now: Instant) -> bool {
        true
    }
}

#[test]
fn reading_an_existing_key_allocates_nothing() {
    let map: KeyedMap<String, Quiet> = KeyedMap::new(1_000, Quiet);
    for tenant in ["acme", "globex", "initech"] {
        map.get_or_insert_with(tenant, || Quiet);
    }
    let count = allocations(|| {
        for _ in 0..1_000 {
            assert!(map.get("globex").is_some());
            assert!(!map.get_or_insert_with("acme", || Quiet).is_overflow());
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the tests above: a counter that saw nothing would pass them all.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))) > 0);
}
