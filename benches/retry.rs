//! The retry layer's no-retry path over the bare service, with tower's own
//! `Retry` and a `TpsBudget` as a baseline, all in the same run; then
//! allocations per call and scaling on two threads.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench retry -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench retry --features count-allocations -- allocations-only
//! ```
//!
//! Groups `retry/<call shape>/<request shape>`, as in `limit.rs`, plus
//! `retry/<call shape>/wire`: the eight-header request with its values
//! sliced from one shared buffer, as hyper builds them, where keeping a
//! replay copy clones reference counts, not bytes (on `realistic` the
//! copy's first clone of each value allocates, which behind hyper it does
//! not). Every variant answers 200 at once, so what is measured is the
//! layer's bookkeeping: a budget deposit, the idempotency check, keeping
//! a replay copy, the response future.
//!
//! - `retry`: `clone_requests()`, the replay copy a clone of the request.
//! - `retry_buffer_body` (`wire` only): the default, replaying a buffered
//!   body; the request carries an empty streaming body.
//! - `tower_retry_tps_budget`: tower's `Retry` with its documentation's
//!   policy (deposit on success, withdraw to retry a 5xx), cloning the
//!   request.
//!
//! Then allocations per call over bare (with `count-allocations`), and
//! each layer's 2-thread/1-thread throughput next to the bare service's
//! own ratio from the same run (`SCALING=0` skips it).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Duration;

use buttress_benches::{
    AllocationReport, Bare, ScalingReport, Wire, allocations_with, bench_requests, bench_shapes,
    run_layer_bench, scaling_of,
};
use buttress_retry::{CloneRequest, RetryLayer};
use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::Empty;
use tower::Layer;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, Retry as TowerRetry};

const PREFIX: &str = "retry";
const CALLS: u64 = 2_000_000;

/// tower's retry policy as its documentation writes it: deposit on
/// success, withdraw to retry a server error.
#[derive(Clone)]
struct TowerPolicy {
    budget: Arc<TpsBudget>,
}

impl<B: Clone> Policy<Request<B>, Response<()>, Infallible> for TowerPolicy {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<B>,
        result: &mut Result<Response<()>, Infallible>,
    ) -> Option<Ready<()>> {
        match result {
            Ok(res) if res.status().is_server_error() => self.budget.withdraw().then(|| ready(())),
            _ => {
                self.budget.deposit();
                None
            }
        }
    }

    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        Some(req.clone())
    }
}

fn tower_retry() -> TowerRetry<TowerPolicy, Bare> {
    let budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1));
    TowerRetry::new(TowerPolicy { budget }, Bare)
}

/// Keeps a clone of the request to replay: what `http::Request<()>` needs.
fn cloning() -> RetryLayer<CloneRequest> {
    RetryLayer::builder()
        .clone_requests()
        .build()
        .expect("valid config")
}

/// The default: buffers the body as it is sent, to replay it.
fn buffering() -> RetryLayer {
    RetryLayer::builder().build().expect("valid config")
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(c, PREFIX, "retry", cloning().layer(Bare));
    bench_shapes(c, PREFIX, "tower_retry_tps_budget", tower_retry());

    let wire = Wire::new();
    let unit = || wire.request(());
    bench_requests(c, PREFIX, "wire", "bare", Bare, unit);
    bench_requests(c, PREFIX, "wire", "retry", cloning().layer(Bare), unit);
    bench_requests(
        c,
        PREFIX,
        "wire",
        "retry_buffer_body",
        buffering().layer(Bare),
        || wire.request(Empty::<Bytes>::new()),
    );
    bench_requests(
        c,
        PREFIX,
        "wire",
        "tower_retry_tps_budget",
        tower_retry(),
        unit,
    );
}

/// Allocations per call over bare: both call shapes on empty requests,
/// then `ready` + `call` on wire requests (the replay copy's cost).
fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line("retry", cloning().layer(Bare));
    report.line("tower_retry_tps_budget", tower_retry());

    let wire = Wire::new();
    let unit = || wire.request(());
    let bare = allocations_with(Bare, unit).unwrap_or_default();
    println!("allocations per ready_call over bare, wire request; bare itself {bare:.2}");
    let line = |name: &str, n: Option<f64>| {
        println!("  {name:<24} {:.2}", n.unwrap_or_default() - bare);
    };
    line("retry", allocations_with(cloning().layer(Bare), unit));
    line(
        "retry_buffer_body",
        allocations_with(buffering().layer(Bare), || {
            wire.request(Empty::<Bytes>::new())
        }),
    );
    line(
        "tower_retry_tps_budget",
        allocations_with(tower_retry(), unit),
    );
}

/// Each layer's 2-thread scaling next to the bare service's, from the same
/// run: two threads, each calling its own clone of one stack (one shared
/// budget), empty requests.
fn two_threads() {
    let report = ScalingReport::start(scaling_of(CALLS, Bare), None);
    let line = |name: &str, r: f64| report.line(name, r);
    line("retry", scaling_of(CALLS, cloning().layer(Bare)));
    line("tower_retry_tps_budget", scaling_of(CALLS, tower_retry()));
}

fn main() {
    run_layer_bench(timings, allocations, two_threads);
}
