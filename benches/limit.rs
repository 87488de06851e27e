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
//! headers of DESIGN.md "Measuring". The inner service answers at once, so
//! what is measured is the layer; futures are polled with a no-op waker,
//! no runtime in the way, and no paused clock (a paused tokio clock makes
//! every `Instant::now` take a lock; the simulations live in the crate's
//! `tests/simulation.rs`).
//!
//! Then allocations per call (with `count-allocations`), and each layer's
//! 2-thread/1-thread throughput next to the bare service's own ratio from
//! the same run (`SCALING=0` skips it).

use buttress_benches::{Bare, allocations_of, bench_shapes, scaling_of};
use buttress_limit::BulkheadLayer;
use buttress_limit::adaptive::AdaptiveLimitLayer;
use criterion::Criterion;
use http::Request;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service};

const PREFIX: &str = "limit";
const CALLS: u64 = 2_000_000;

fn bulkhead() -> BulkheadLayer {
    BulkheadLayer::builder()
        .max_concurrent(1024)
        .build()
        .expect("valid config")
}

fn adaptive() -> AdaptiveLimitLayer {
    AdaptiveLimitLayer::builder()
        .limits(1024, 1024, 1024)
        .build()
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

fn report<S: Service<Request<()>> + Clone>(name: &str, bare: (f64, f64), svc: S) {
    let (ready, shot) = allocations_of(svc).unwrap_or_default();
    println!("  {name:<24} ({:.2}, {:.2})", ready - bare.0, shot - bare.1);
}

fn allocations() {
    let Some(bare) = allocations_of(Bare) else {
        println!("\nallocations: build with `--features count-allocations` to count them");
        return;
    };
    println!("\nallocations per call over bare (ready_call, oneshot); bare itself {bare:?}");
    report(
        "tower_concurrency_limit",
        bare,
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    report("bulkhead", bare, bulkhead().layer(Bare));
    report("adaptive_limit", bare, adaptive().layer(Bare));
}

fn two_threads() {
    let bare = scaling_of(CALLS, Bare);
    println!("\nscaling on two threads (2-thread / 1-thread throughput; 2.0 is perfect)");
    println!("  {:<24} {bare:.2}", "bare");
    let line = |name: &str, r: f64| {
        println!(
            "  {name:<24} {r:.2}   ({:.0} % of bare's)",
            100.0 * r / bare
        );
    };
    line(
        "tower_concurrency_limit",
        scaling_of(CALLS, ConcurrencyLimitLayer::new(1024).layer(Bare)),
    );
    line("bulkhead", scaling_of(CALLS, bulkhead().layer(Bare)));
    line("adaptive_limit", scaling_of(CALLS, adaptive().layer(Bare)));
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    // A filter that matches no group (`-- allocations-only`) skips the
    // timings; `SCALING=0` skips the two-thread rounds.
    timings(&mut criterion);
    if std::env::args().all(|arg| arg != "--list") {
        allocations();
        if std::env::var_os("SCALING").is_none_or(|v| v != "0") {
            two_threads();
        }
    }
    criterion.final_summary();
}
