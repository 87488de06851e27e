//! Costs of the core vocabulary on the request path: keyed-state lookup,
//! classification, event reporting, and the timeout layer over the bare
//! service with tower's own `Timeout` as a baseline, in the same run.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench core -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench core --features count-allocations -- allocations-only
//! ```
//!
//! The timeout groups `timeout/<call shape>/<request shape>` are those of
//! `limit.rs`, run inside an entered current-thread runtime (both layers
//! make a `Sleep` per call). Then the timeout layers' allocations per
//! call (with `count-allocations`) and their 2-thread/1-thread throughput
//! next to the bare service's own ratio from the same run (`SCALING=0`
//! skips it).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use buttress_benches::{
    Bare, ScalingReport, allocations_of, bench_shapes, empty_request, ready_call, run_layer_bench,
    scaling_each,
};

use buttress_core::classify::{Classify, GrpcClassifier, HttpClassifier};
use buttress_core::keyed::{KeyedMap, KeyedState};
use buttress_core::telemetry::{
    Event, LayerId, LayerKind, LayerReporter, NoopReporter, Telemetry, TelemetrySink,
};
use buttress_core::timeout::TimeoutLayer;
use criterion::Criterion;
use http::Request;
use tokio::time::Instant;
use tower::{Layer, Service};

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

/// A current-thread runtime with a timer: both timeout layers make their
/// `Sleep` in `call`, which needs one entered. Futures are still polled
/// with a no-op waker: the answer is there at once, so the sleep is never
/// registered with the timer, and the runtime's `block_on` stays out of
/// the figure.
fn timer_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

fn buttress_timeout() -> buttress_core::timeout::Timeout<Bare> {
    TimeoutLayer::new(Duration::from_secs(1))
        .expect("a valid timeout")
        .layer(Bare)
}

fn tower_timeout() -> tower::timeout::Timeout<Bare> {
    tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(Bare)
}

/// The timeout layer (1 s limit) over a service that answers at once, next
/// to the bare service and tower's own `Timeout`, in the groups
/// `timeout/<call shape>/<request shape>`.
fn timeout(c: &mut Criterion) {
    let runtime = timer_runtime();
    let _entered = runtime.enter();
    bench_shapes(c, "timeout", "bare", Bare);
    bench_shapes(c, "timeout", "timeout_1s", buttress_timeout());
    bench_shapes(c, "timeout", "tower_timeout_1s", tower_timeout());
}

/// The timeout layers' allocations per call over the bare service's, in
/// both call shapes.
fn allocations() {
    let runtime = timer_runtime();
    let _entered = runtime.enter();
    let Some(bare) = allocations_of(Bare) else {
        println!("\nallocations: build with `--features count-allocations` to count them");
        return;
    };
    println!("\nallocations per call over bare (ready_call, oneshot); bare itself {bare:?}");
    let line = |name: &str, (ready, shot): (f64, f64)| {
        println!("  {name:<24} ({:.2}, {:.2})", ready - bare.0, shot - bare.1);
    };
    line(
        "timeout_1s",
        allocations_of(buttress_timeout()).unwrap_or_default(),
    );
    line(
        "tower_timeout_1s",
        allocations_of(tower_timeout()).unwrap_or_default(),
    );
}

const CALLS: u64 = 2_000_000;

/// 2-thread/1-thread throughput of `ready` + `call` on `svc`, each thread
/// on its own clone and its own timer runtime, entered around each call
/// (the bare service pays the same entering).
fn scaling_in_runtime<S>(svc: S) -> f64
where
    S: Service<Request<()>> + Clone + Send + Sync,
{
    scaling_each(
        5,
        CALLS,
        || (timer_runtime(), svc.clone()),
        |(runtime, svc): &mut (tokio::runtime::Runtime, S)| {
            let _entered = runtime.enter();
            black_box(ready_call(svc, empty_request()).is_ok());
        },
    )
}

/// Each timeout layer's 2-thread scaling next to the bare service's, from
/// the same run.
fn two_threads() {
    let report = ScalingReport::start(scaling_in_runtime(Bare), None);
    let line = |name: &str, r: f64| report.line(name, r);
    line("timeout_1s", scaling_in_runtime(buttress_timeout()));
    line("tower_timeout_1s", scaling_in_runtime(tower_timeout()));
}

fn main() {
    let groups = |criterion: &mut Criterion| {
        keyed_map(criterion);
        keyed_map_scaling(criterion);
        classify(criterion);
        telemetry(criterion);
        timeout(criterion);
    };
    run_layer_bench(groups, allocations, two_threads);
}
