//! The breaker's cost over a bare service, and how it scales on two
//! threads, with tower's `ConcurrencyLimit` as a familiar reference.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench breaker -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench breaker --features count-allocations -- allocations-only
//! SCALING=0 cargo bench -p buttress-benches --bench breaker -- breaker/ready_call
//! ```
//!
//! The criterion groups `breaker/<shape>/<request>` bench the bare service,
//! tower's limit and each breaker variant in the same run: both call shapes
//! (`ready` + `call` on one instance; `clone().oneshot(req)` as axum and
//! tonic do) and both request shapes (no headers; eight headers as hyper
//! builds them, outside the timed loop). The inner service drops the
//! request, the same for every variant: subtract `bare`.
//!
//! After the groups: allocations per call (with `count-allocations`) and
//! each variant's 2-thread/1-thread throughput next to the bare service's
//! own ratio from the same run.

use buttress_core::layer::LayerBuilder;
use std::time::Duration;

use buttress_benches::{
    AllocationReport, Bare, ScalingReport, bench_shapes, run_layer_bench, scaling_of,
};
use buttress_breaker::{BreakerConfig, CircuitBreakerLayer, SlowCallConfig, WindowConfig};
use criterion::Criterion;
use http::Request;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service};

/// Every variant benched, by name: the closed breaker in each window and
/// slow-call setting, a disabled one (the path every call takes, without
/// the window), and an open one (the rejection).
fn layers() -> Vec<(&'static str, CircuitBreakerLayer)> {
    let build = |name: &str, window: WindowConfig, slow_calls: Option<SlowCallConfig>| {
        CircuitBreakerLayer::builder()
            .with_config(BreakerConfig {
                window,
                slow_calls,
                ..BreakerConfig::default()
            })
            .name(name)
            .build()
            .expect("valid config")
    };
    let count = WindowConfig::Count { size: 100 };
    let time = WindowConfig::Time {
        duration: Duration::from_secs(10),
        buckets: 10,
    };
    let slow = Some(SlowCallConfig {
        threshold: Duration::from_secs(1),
        rate: 50.0,
    });
    let disabled = build("disabled", WindowConfig::default(), None);
    disabled.handle().disable();
    let open = build("open", WindowConfig::default(), None);
    open.handle().force_open();
    vec![
        ("count", build("count", count, None)),
        ("count_slow", build("count_slow", count, slow)),
        ("time", build("time", time, None)),
        ("time_slow", build("time_slow", time, slow)),
        ("disabled", disabled),
        ("open", open),
    ]
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, "breaker", "bare", Bare);
    bench_shapes(
        c,
        "breaker",
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    for (name, layer) in layers() {
        bench_shapes(c, "breaker", name, layer.layer(Bare));
    }
}

/// Allocations per call over the bare service's, in both call shapes.
fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line(
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    for (name, layer) in layers() {
        report.line(name, layer.layer(Bare));
    }
}

const CALLS: u64 = 2_000_000;
fn ratio<S>(svc: S) -> f64
where
    S: Service<Request<()>> + Clone + Send + Sync,
{
    scaling_of(CALLS, svc)
}

/// Each variant's 2-thread scaling next to the bare service's, from the
/// same run: two threads, each calling its own clone of one stack (one
/// shared breaker).
fn two_threads() {
    let report = ScalingReport::start(ratio(Bare), None);
    report.line(
        "tower_concurrency_limit",
        ratio(ConcurrencyLimitLayer::new(1024).layer(Bare)),
    );
    for (name, layer) in layers() {
        if name == "open" {
            continue;
        }
        report.line(name, ratio(layer.layer(Bare)));
    }
}

fn main() {
    run_layer_bench(timings, allocations, two_threads);
}
