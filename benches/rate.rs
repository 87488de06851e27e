//! Per-call cost of the rate limit over a bare service, all in the same
//! run: a global limiter (one cell), a keyed one (a tracked key in core's
//! keyed map), and a keyed one whose map holds 10,000 other keys; then
//! allocations per call and scaling on two threads.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench rate -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench rate --features count-allocations -- allocations-only
//! ```
//!
//! Groups `rate/<call shape>/<request shape>`, as in `limit.rs`. The keyed
//! limiters key by the `authorization` header: the realistic request
//! carries one (a bearer token), the empty one has none and takes the
//! shared anonymous key — a tracked key either way. The quota is one no
//! bench can spend (10⁹ per second), so every call is admitted: what is
//! measured is the admitted path, clock read included (these requests
//! carry no `RequestContext` whose start would stand in for it).
//!
//! Then allocations per call (with `count-allocations`), and each
//! limiter's 2-thread/1-thread throughput next to the bare service's own
//! ratio from the same run (`SCALING=0` skips it).

use buttress_benches::{
    AllocationReport, Bare, ScalingReport, bench_shapes, ready_call, run_layer_bench, scaling_of,
};
use buttress_limit::rate::{KeySource, QuotaConfig, RateLimitConfig, RateLimitLayer};
use criterion::Criterion;
use http::Request;
use tower::Layer;

const PREFIX: &str = "rate";
const CALLS: u64 = 2_000_000;

fn plenty() -> QuotaConfig {
    QuotaConfig::per_second(1_000_000_000).burst(100_000)
}

fn global() -> RateLimitLayer {
    RateLimitLayer::from_config(&RateLimitConfig {
        quota: plenty(),
        ..RateLimitConfig::default()
    })
    .expect("valid config")
}

fn keyed() -> RateLimitLayer {
    RateLimitLayer::from_config(&RateLimitConfig {
        quota: plenty(),
        key: KeySource::Header("authorization".into()),
        max_keys: 20_000,
        ..RateLimitConfig::default()
    })
    .expect("valid config")
}

/// A keyed limiter already tracking 10,000 other callers.
fn keyed_10k() -> RateLimitLayer {
    let layer = keyed();
    let mut svc = layer.layer(Bare);
    for n in 0..10_000 {
        let req = Request::get("/")
            .header("authorization", format!("Bearer caller-{n}"))
            .body(())
            .expect("valid request");
        ready_call(&mut svc, req).expect("admitted");
    }
    layer
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(c, PREFIX, "global", global().layer(Bare));
    bench_shapes(c, PREFIX, "keyed", keyed().layer(Bare));
    bench_shapes(c, PREFIX, "keyed_10k", keyed_10k().layer(Bare));
}

fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line("global", global().layer(Bare));
    report.line("keyed", keyed().layer(Bare));
    report.line("keyed_10k", keyed_10k().layer(Bare));
}

fn two_threads() {
    let report = ScalingReport::start(scaling_of(CALLS, Bare), None);
    let line = |name: &str, r: f64| report.line(name, r);
    // Both threads hit one key: one cell, one cache line, the worst case.
    line("global", scaling_of(CALLS, global().layer(Bare)));
    line(
        "keyed (one hot key)",
        scaling_of(CALLS, keyed().layer(Bare)),
    );
    line(
        "keyed_10k (one hot key)",
        scaling_of(CALLS, keyed_10k().layer(Bare)),
    );
}

fn main() {
    run_layer_bench(timings, allocations, two_threads);
}
