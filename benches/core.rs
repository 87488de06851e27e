//! Costs of the core vocabulary on the request path: keyed-state lookup,
//! classification, event reporting. Run with
//! `cargo bench -p buttress-benches --bench core`.

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

/// Runs `op` `iters` times split over `threads` threads; returns the wall
/// time, so criterion reports time per operation at that parallelism.
fn spread<F: Fn(u64) + Sync>(threads: u64, iters: u64, op: &F) -> std::time::Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for _ in 0..iters / threads {
                    op(thread);
                }
            });
        }
    });
    start.elapsed()
}

/// Two threads reading the same hot key: the sharded read lock against a
/// Mutex<HashMap>, each next to its own one-thread figure.
fn keyed_map_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_map_scaling");
    let map: KeyedMap<String, Quiet> = KeyedMap::new(10_000, Quiet);
    let baseline: Mutex<HashMap<String, std::sync::Arc<Quiet>>> = Mutex::new(HashMap::new());
    for i in 0..10_000 {
        let key = format!("tenant-{i:05}");
        map.get_or_insert_with(key.as_str(), || Quiet);
        baseline
            .lock()
            .unwrap()
            .insert(key, std::sync::Arc::new(Quiet));
    }
    // One hot key shared by both threads, or a key of each thread's own
    // (per-tenant state, where a sharded map should scale).
    const KEYS: [[&str; 2]; 2] = [
        ["tenant-04242", "tenant-04242"],
        ["tenant-04242", "tenant-00007"],
    ];
    for (shape, keys) in ["same_key", "own_key"].into_iter().zip(KEYS) {
        let read_map = |thread: u64| {
            black_box(map.get(black_box(keys[thread as usize])));
        };
        let read_baseline = |thread: u64| {
            let table = baseline.lock().unwrap();
            black_box(table.get(black_box(keys[thread as usize])).cloned());
        };
        for threads in [1u64, 2] {
            group.bench_function(format!("keyed_map_{shape}_{threads}_threads"), |b| {
                b.iter_custom(|iters| spread(threads, iters, &read_map))
            });
            group.bench_function(format!("mutex_hashmap_{shape}_{threads}_threads"), |b| {
                b.iter_custom(|iters| spread(threads, iters, &read_baseline))
            });
        }
    }
    group.finish();
}

/// The timeout layer over a service that answers at once, next to the bare
/// service, on a current-thread runtime.
fn timeout(c: &mut Criterion) {
    use buttress_core::timeout::TimeoutLayer;
    use tower::{Layer, Service, ServiceExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bare = tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(()))
    });
    let mut group = c.benchmark_group("timeout");
    group.bench_function("bare", |b| {
        let mut svc = bare;
        b.iter(|| {
            rt.block_on(async {
                let svc = svc.ready().await.unwrap();
                black_box(svc.call(http::Request::new(())).await.unwrap())
            })
        })
    });
    group.bench_function("limit_1s", |b| {
        let mut svc = TimeoutLayer::new(std::time::Duration::from_secs(1)).layer(bare);
        b.iter(|| {
            rt.block_on(async {
                let svc = svc.ready().await.unwrap();
                black_box(svc.call(http::Request::new(())).await.unwrap())
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    keyed_map,
    keyed_map_scaling,
    classify,
    telemetry,
    timeout
);
criterion_main!(benches);
