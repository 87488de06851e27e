//! Per-call cost of load shedding (not shedding) and client-side
//! throttling (not rejecting) over a bare service, with tower's `LoadShed`
//! as a baseline, in the same run, and their scaling on two threads.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench shed -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench shed --features count-allocations -- allocations-only
//! ```
//!
//! Groups `shed/<call shape>/<request shape>`, as in `limit.rs`. The
//! shedder is benched with each built-in signal: in flight (reads no
//! clock), queue delay (reads the clock and looks for the request's
//! context, absent here) and latency (reads the clock twice). The
//! throttle's dependency accepts every call, so it never rejects, but
//! each call is recorded in its window (one clock read). tower's
//! `LoadShed` (`tower_load_shed`) sheds only when its inner service is not
//! ready, which `Bare` always is: the cost of its readiness bookkeeping.
//!
//! Then allocations per call (with `count-allocations`), and each layer's
//! 2-thread/1-thread throughput next to the bare service's own ratio from
//! the same run (`SCALING=0` skips it).

use buttress_benches::{
    AllocationReport, Bare, ScalingReport, bench_shapes, run_layer_bench, scaling_of,
};
use buttress_limit::shed::{LoadShedLayer, ShedConfig, ShedSignalConfig};
use buttress_limit::throttle::{ThrottleConfig, ThrottleLayer};
use criterion::Criterion;
use std::time::Duration;
use tower::Layer;
use tower::load_shed::LoadShedLayer as TowerLoadShedLayer;

const PREFIX: &str = "shed";
const CALLS: u64 = 2_000_000;

/// A shedder on `signal`, the other settings at their defaults.
fn shedder(signal: ShedSignalConfig) -> LoadShedLayer {
    LoadShedLayer::from_config(&ShedConfig {
        signal,
        ..ShedConfig::default()
    })
    .expect("valid config")
}

fn in_flight() -> LoadShedLayer {
    shedder(ShedSignalConfig::InFlight {
        high: 1 << 20,
        low: 1 << 19,
    })
}

fn queue_delay() -> LoadShedLayer {
    shedder(ShedSignalConfig::QueueDelay {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(100),
    })
}

fn latency() -> LoadShedLayer {
    shedder(ShedSignalConfig::Latency {
        target: Duration::from_millis(100),
        relief: Duration::from_millis(50),
        window: Duration::from_millis(100),
    })
}

fn throttle() -> ThrottleLayer {
    ThrottleLayer::from_config(&ThrottleConfig {
        seed: Some(1),
        ..ThrottleConfig::default()
    })
    .expect("valid config")
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(
        c,
        PREFIX,
        "tower_load_shed",
        TowerLoadShedLayer::new().layer(Bare),
    );
    bench_shapes(c, PREFIX, "shed_in_flight", in_flight().layer(Bare));
    bench_shapes(c, PREFIX, "shed_queue_delay", queue_delay().layer(Bare));
    bench_shapes(c, PREFIX, "shed_latency", latency().layer(Bare));
    bench_shapes(c, PREFIX, "throttle", throttle().layer(Bare));
}

fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line("tower_load_shed", TowerLoadShedLayer::new().layer(Bare));
    report.line("shed_in_flight", in_flight().layer(Bare));
    report.line("shed_queue_delay", queue_delay().layer(Bare));
    report.line("shed_latency", latency().layer(Bare));
    report.line("throttle", throttle().layer(Bare));
}

fn two_threads() {
    let report = ScalingReport::start(scaling_of(CALLS, Bare), None);
    let line = |name: &str, r: f64| report.line(name, r);
    line(
        "tower_load_shed",
        scaling_of(CALLS, TowerLoadShedLayer::new().layer(Bare)),
    );
    line("shed_in_flight", scaling_of(CALLS, in_flight().layer(Bare)));
    line(
        "shed_queue_delay",
        scaling_of(CALLS, queue_delay().layer(Bare)),
    );
    line("shed_latency", scaling_of(CALLS, latency().layer(Bare)));
    line("throttle", scaling_of(CALLS, throttle().layer(Bare)));
}

fn main() {
    run_layer_bench(timings, allocations, two_threads);
}
