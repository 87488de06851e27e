//! Per-call cost of the limiting layers over a bare service, with tower's
//! `ConcurrencyLimit` as a baseline, all in the same run, and their
//! scaling on two threads.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench limit -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench limit --features count-allocations -- allocations-only
//! ```
//!
//! Groups `limit/<call shape>/<request shape>`: `ready` + `call` on one
//! instance (a server holding its stack) and `clone().oneshot(req)` per
//! request (axum, tonic); requests with no headers and with the eight
//! headers hyper builds from the wire (`realistic_request`). The inner
//! service answers at once, so what is measured is the layer; futures are
//! polled with a no-op waker, no runtime in the way, and no paused clock (a
//! paused tokio clock makes every `Instant::now` take a lock; the
//! simulations live in the crate's `tests/simulation.rs`).
//!
//! Then allocations per call (with `count-allocations`), and each layer's
//! 2-thread/1-thread throughput next to the bare service's own ratio from
//! the same run (`SCALING=0` skips it).

use buttress_benches::{
    AllocationReport, Bare, ScalingReport, bench_shapes, run_layer_bench, scaling_of,
};
use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitLayer};
use buttress_limit::{BulkheadConfig, BulkheadLayer};
use criterion::Criterion;
use tower::Layer;
use tower::limit::ConcurrencyLimitLayer;

const PREFIX: &str = "limit";
const CALLS: u64 = 2_000_000;

fn bulkhead() -> BulkheadLayer {
    BulkheadLayer::from_config(&BulkheadConfig {
        max_concurrent: 1024,
        ..BulkheadConfig::default()
    })
    .expect("valid config")
}

fn adaptive() -> AdaptiveLimitLayer {
    AdaptiveLimitLayer::from_config(&AdaptiveLimitConfig {
        min_limit: 1024,
        initial_limit: Some(1024),
        max_limit: 1024,
        ..AdaptiveLimitConfig::default()
    })
    .expect("valid config")
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(
        c,
        PREFIX,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    bench_shapes(c, PREFIX, "bulkhead", bulkhead().layer(Bare));
    bench_shapes(c, PREFIX, "adaptive_limit", adaptive().layer(Bare));
}

fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line(
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    report.line("bulkhead", bulkhead().layer(Bare));
    report.line("adaptive_limit", adaptive().layer(Bare));
}

fn two_threads() {
    let report = ScalingReport::start(scaling_of(CALLS, Bare), None);
    let line = |name: &str, r: f64| report.line(name, r);
    line(
        "tower_concurrency_limit",
        scaling_of(CALLS, ConcurrencyLimitLayer::new(1024).layer(Bare)),
    );
    line("bulkhead", scaling_of(CALLS, bulkhead().layer(Bare)));
    line("adaptive_limit", scaling_of(CALLS, adaptive().layer(Bare)));
}

fn main() {
    run_layer_bench(timings, allocations, two_threads);
}
