//! Costs of the core vocabulary on the request path: keyed-state lookup,
//! classification, event reporting. Run with
//! `cargo bench -p buttress-core --bench core`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;

use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier};
use buttress_core::keyed::{KeyedMap, KeyedState};
use buttress_core::telemetry::{
    Event, LayerId, LayerKind, LayerReporter, NoopReporter, Telemetry, TelemetrySink,
};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

struct Quiet;

impl KeyedState for Quiet {
    fn is_neutral(&self, _now: Instant) -> bool {
        true
    }
}

fn keyed_map(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_map");
    let map: KeyedMap<String, Quiet> = KeyedMap::new(10_000, Quiet);
    let keys: Vec<String> = (0..10_000).map(|i| format!("tenant-{i:05}")).collect();
    for key in &keys {
        map.get_or_insert_with(key.as_str(), || Quiet);
    }
    // Baseline in the same run: an uncontended std Mutex<HashMap>, the
    // shape most hand-written per-key layers use.
    let baseline: Mutex<HashMap<String, std::sync::Arc<Quiet>>> = Mutex::new(
        keys.iter()
            .map(|k| (k.clone(), std::sync::Arc::new(Quiet)))
            .collect(),
    );
    let key = "tenant-04242";
    group.bench_function("get_existing", |b| {
        b.iter(|| black_box(map.get(black_box(key))))
    });
    group.bench_function("get_or_insert_existing", |b| {
        b.iter(|| black_box(map.get_or_insert_with(black_box(key), || Quiet)))
    });
    group.bench_function("baseline_mutex_hashmap_get", |b| {
        b.iter(|| black_box(baseline.lock().unwrap().get(black_box(key)).cloned()))
    });
    group.finish();
}

fn classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    let http_res = http::Response::builder().status(503).body(()).unwrap();
    let grpc_res = http::Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", "14")
        .body(())
        .unwrap();
    let http = HttpClassifier::default();
    let grpc = GrpcClassifier::default();
    group.bench_function("http_status", |b| {
        b.iter(|| black_box(http.classify(Ok(black_box(&http_res)))))
    });
    group.bench_function("grpc_status_header", |b| {
        b.iter(|| black_box(grpc.classify(Ok(black_box(&grpc_res)))))
    });
    group.finish();
}

struct Noop;

impl TelemetrySink for Noop {
    fn register(&self, _layer: &LayerId) -> std::sync::Arc<dyn LayerReporter> {
        std::sync::Arc::new(NoopReporter)
    }
}

fn telemetry(c: &mut Criterion) {
    let handle = Telemetry::with_sink(&Noop, LayerKind::Breaker, "bench");
    c.bench_function("telemetry/report_noop_sink", |b| {
        b.iter(|| handle.report(black_box(Event::Admitted)))
    });
}

criterion_group!(benches, keyed_map, classify, telemetry);
criterion_main!(benches);
