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
use buttress_limit::shed::LoadShedLayer;
use buttress_limit::throttle::ThrottleLayer;
use criterion::Criterion;
use std::time::Duration;
use tower::Layer;
use tower::load_shed::LoadShedLayer as TowerLoadShedLayer;

const PREFIX: &str = "shed";
const CALLS: u64 = 2_000_000;

fn in_flight() -> LoadShedLayer {
    LoadShedLayer::builder()
        .in_flight(1 << 20, 1 << 19)
        .build()
        .expect("valid config")
}

fn queue_delay() -> LoadShedLayer {
    LoadShedLayer::builder()
        .queue_delay(Duration::from_millis(5), Duration::from_millis(100))
        .build()
        .expect("valid config")
}

fn latency() -> LoadShedLayer {
    LoadShedLayer::builder()
        .latency(
            Duration::from_millis(100),
            Duration::from_millis(50),
            Duration::from_millis(100),
        )
        .build()
        .expect("valid config")
}

fn throttle() -> ThrottleLayer {
    ThrottleLayer::builder()
        .seed(1)
        .build()
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
