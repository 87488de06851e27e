//! A tour of the vocabulary every Buttress layer shares, runnable while
//! the layers themselves are being built:
//!
//! `cargo run --release --example tour`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use buttress::core::classify::{Classify, GrpcClassifier, HttpClassifier};
use buttress::core::keyed::{KeyedMap, KeyedState};
use buttress::core::telemetry::{Event, LayerKind, RecordingSink, Telemetry};
use buttress::{BoxError, Reason, Rejected};
use tokio::time::Instant;

/// Per-tenant failure count: live while non-zero.
#[derive(Default)]
struct Strikes(AtomicU32);

impl KeyedState for Strikes {
    fn is_neutral(&self, _now: Instant) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

fn main() {
    println!("1. One notion of failure");
    let http = HttpClassifier::default();
    for status in [200u16, 404, 429, 503] {
        let res = http::Response::builder().status(status).body(()).unwrap();
        println!("   HTTP {status} -> {:?}", http.classify(Ok(&res)));
    }
    let grpc = GrpcClassifier::default();
    for code in ["0", "5", "14"] {
        let res = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", code)
            .body(())
            .unwrap();
        println!("   grpc-status {code} -> {:?}", grpc.classify(Ok(&res)));
    }

    println!("2. Typed rejections, found through any wrapping");
    let refused: BoxError = Rejected::new(Reason::CircuitOpen)
        .with_retry_after(Duration::from_secs(3))
        .into();
    let found = Rejected::find(&*refused).expect("a rejection");
    println!(
        "   {found} (retry after {:?}), blames the dependency: {}",
        found.retry_after(),
        found.outcome().is_failure()
    );

    println!("3. Bounded keyed state under a flood of invented keys");
    let map: KeyedMap<String, Strikes> = KeyedMap::new(1_000, Strikes::default());
    map.get_or_insert_with("tenant-under-attack", Strikes::default)
        .0
        .fetch_add(3, Ordering::Relaxed);
    for i in 0..200_000 {
        map.get_or_insert_with(format!("random-{i}").as_str(), Strikes::default);
    }
    let stats = map.stats();
    println!(
        "   200,001 keys -> {} held (capacity {}), {} evicted; live tenant kept: {}",
        stats.len,
        stats.capacity,
        stats.evicted,
        map.get("tenant-under-attack").is_some()
    );

    println!("4. Telemetry without allocation on the request path");
    let sink = RecordingSink::new();
    let telemetry = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
    telemetry.report(Event::StateChanged {
        from: "closed",
        to: "open",
    });
    telemetry.report(Event::Rejected(Reason::CircuitOpen));
    for (layer, event) in sink.events() {
        println!("   {layer}: {event:?}");
    }
}
