//! The RED metrics layer's cost over the bare service, with a Prometheus
//! recorder installed (the realistic case: every handle is live), in both
//! call and request shapes, and how it scales on two threads.
//!
//! `cargo bench -p buttress-benches --bench red -- --warm-up-time 1 --measurement-time 3`
//!
//! With `--features count-allocations` it also prints allocations per
//! call, which must amortise to under 0.1: each label combination's
//! handles are resolved once, on its first request. Then the layer's
//! 2-thread/1-thread throughput next to the bare service's own ratio from
//! the same run (`SCALING=0` skips it).

use buttress_benches::{Bare, allocations_of, bench_shapes, scaling_of};
use buttress_core::layer::LayerBuilder;
use buttress_metrics::RedLayer;
use criterion::Criterion;
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::Layer;

fn red(c: &mut Criterion) {
    PrometheusBuilder::new()
        .install_recorder()
        .expect("the bench installs the only recorder");
    let red = RedLayer::builder()
        .name("bench")
        .build()
        .expect("a valid RED layer")
        .layer(Bare);
    bench_shapes(c, "red", "bare", Bare);
    bench_shapes(c, "red", "red", red.clone());

    if let Some((ready, shot)) = allocations_of(red.clone()) {
        println!("allocations per call: red ready_call {ready:.3}, oneshot {shot:.3}");
    }
    if std::env::var_os("SCALING").is_none_or(|v| v != "0") {
        let bare = scaling_of(200_000, Bare);
        let layered = scaling_of(200_000, red);
        println!(
            "2-thread/1-thread: bare {bare:.2}, red {layered:.2} ({:.0} % of bare's)",
            100.0 * layered / bare
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    red(&mut criterion);
    criterion.final_summary();
}
