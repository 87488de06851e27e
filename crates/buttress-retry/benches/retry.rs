//! The retry layer's no-retry path against the bare service and tower's
//! own `Retry` with a `TpsBudget`, in the same run.
//!
//! Run: `cargo bench -p buttress-retry -- --warm-up-time 1 --measurement-time 3`
//!
//! Groups: `empty/*` (`http::Request<()>`, no headers) and `eight_headers/*`
//! (the realistic shape of DESIGN.md "Measuring"), each in both call shapes
//! (`ready` + `call` on one instance, `clone().oneshot(req)`). Every variant
//! answers 200 at once, so what is measured is the layer's bookkeeping: a
//! budget deposit, the idempotency check, keeping a replay copy, the
//! response future.
//!
//! After the groups, a scaling run makes N calls on one thread and N calls
//! on each of two threads and prints each variant's 2-thread/1-thread
//! throughput ratio next to the bare service's. It runs on plain threads,
//! outside any tokio runtime: this crate's dev-dependencies enable tokio's
//! `test-util`, under which `Instant::now()` inside a runtime takes a lock.

#[path = "support/shapes.rs"]
mod shapes;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buttress_retry::RetryLayer;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Request, Response};
use http_body_util::Empty;
use shapes::{Bare, Wire, oneshot, ready_call};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, RetryLayer as TowerRetryLayer};
use tower::{Layer, Service};

/// tower's retry policy as its documentation writes it: deposit on
/// success, withdraw to retry a server error.
#[derive(Clone)]
struct TowerPolicy {
    budget: Arc<TpsBudget>,
}

impl TowerPolicy {
    fn new() -> Self {
        TowerPolicy {
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1)),
        }
    }
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

fn empty(c: &mut Criterion) {
    let retry = RetryLayer::builder()
        .clone_requests()
        .build()
        .unwrap()
        .layer(Bare);
    let tower_retry = TowerRetryLayer::new(TowerPolicy::new()).layer(Bare);

    let mut group = c.benchmark_group("empty/ready_call");
    let mut bare = Bare;
    group.bench_function("bare", |b| {
        b.iter(|| black_box(ready_call(&mut bare, Request::new(()))))
    });
    let mut svc = retry.clone();
    group.bench_function("retry", |b| {
        b.iter(|| black_box(ready_call(&mut svc, Request::new(()))))
    });
    let mut svc = tower_retry.clone();
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter(|| black_box(ready_call(&mut svc, Request::new(()))))
    });
    group.finish();

    let mut group = c.benchmark_group("empty/oneshot");
    group.bench_function("bare", |b| {
        b.iter(|| black_box(oneshot(&Bare, Request::new(()))))
    });
    group.bench_function("retry", |b| {
        b.iter(|| black_box(oneshot(&retry, Request::new(()))))
    });
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter(|| black_box(oneshot(&tower_retry, Request::new(()))))
    });
    group.finish();
}

fn eight_headers(c: &mut Criterion) {
    let wire = Wire::new();
    let cloning = RetryLayer::builder()
        .clone_requests()
        .build()
        .unwrap()
        .layer(Bare);
    let buffering = RetryLayer::builder().build().unwrap().layer(Bare);
    let tower_retry = TowerRetryLayer::new(TowerPolicy::new()).layer(Bare);
    let unit = || wire.request(());
    let streaming = || wire.request(Empty::<Bytes>::new());

    let mut group = c.benchmark_group("eight_headers/ready_call");
    let mut bare = Bare;
    group.bench_function("bare", |b| {
        b.iter_batched(
            unit,
            |req| ready_call(&mut bare, req),
            BatchSize::SmallInput,
        )
    });
    let mut svc = cloning.clone();
    group.bench_function("retry_clone_request", |b| {
        b.iter_batched(unit, |req| ready_call(&mut svc, req), BatchSize::SmallInput)
    });
    let mut svc = buffering.clone();
    group.bench_function("retry_buffer_body", |b| {
        b.iter_batched(
            streaming,
            |req| ready_call(&mut svc, req),
            BatchSize::SmallInput,
        )
    });
    let mut svc = tower_retry.clone();
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter_batched(unit, |req| ready_call(&mut svc, req), BatchSize::SmallInput)
    });
    group.finish();

    let mut group = c.benchmark_group("eight_headers/oneshot");
    group.bench_function("bare", |b| {
        b.iter_batched(unit, |req| oneshot(&Bare, req), BatchSize::SmallInput)
    });
    group.bench_function("retry_clone_request", |b| {
        b.iter_batched(unit, |req| oneshot(&cloning, req), BatchSize::SmallInput)
    });
    group.bench_function("retry_buffer_body", |b| {
        b.iter_batched(
            streaming,
            |req| oneshot(&buffering, req),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("tower_retry_tps_budget", |b| {
        b.iter_batched(
            unit,
            |req| oneshot(&tower_retry, req),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, empty, eight_headers);

const CALLS: u64 = 2_000_000;

/// Runs `threads` threads of `CALLS` calls each on their own clone of
/// `svc`; the elapsed time.
fn run_threads<S>(svc: &S, threads: usize) -> Duration
where
    S: Service<Request<()>, Response = Response<()>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
{
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let mut svc = svc.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..CALLS {
                    black_box(ready_call(&mut svc, Request::new(())));
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap()
}

/// Throughput on two threads over throughput on one (2.0 is perfect).
fn scaling<S>(svc: &S) -> f64
where
    S: Service<Request<()>, Response = Response<()>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
{
    let one = run_threads(svc, 1);
    let two = run_threads(svc, 2);
    2.0 * one.as_secs_f64() / two.as_secs_f64()
}

fn scaling_report() {
    let retry = RetryLayer::builder()
        .clone_requests()
        .build()
        .unwrap()
        .layer(Bare);
    let tower_retry = TowerRetryLayer::new(TowerPolicy::new()).layer(Bare);
    // Alternate rounds so that drifting machine load touches all alike.
    for round in 1..=2 {
        let bare = scaling(&Bare);
        let ours = scaling(&retry);
        let tower = scaling(&tower_retry);
        println!(
            "scaling round {round} (2-thread/1-thread throughput): bare {bare:.2}, retry {ours:.2} \
             ({:.2} of bare), tower_retry_tps_budget {tower:.2} ({:.2} of bare)",
            ours / bare,
            tower / bare
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Skipped when profiling one benchmark (`--profile-time`) or listing.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench")
        && !args.iter().any(|a| a == "--profile-time" || a == "--list")
    {
        scaling_report();
    }
}
