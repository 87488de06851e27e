//! The breaker's cost over a bare service, and how it scales on two
//! threads.
//!
//! Run: `cargo bench -p buttress-breaker -- --warm-up-time 1 --measurement-time 3`
//!
//! The criterion groups bench the bare service and the breaker in the
//! same run, in both call shapes (`ready` + `call` on one instance, and
//! `clone().oneshot(req)` as axum and tonic do). The scaling measurement
//! then runs N calls on one task, and N calls on each of two tasks of a
//! two-worker runtime, and prints each variant's 2-thread/1-thread
//! throughput ratio next to the bare service's, and the ratio of the two.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use buttress_breaker::CircuitBreakerLayer;
use criterion::{Criterion, criterion_group};
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt};

/// The bare dependency: answers at once.
#[derive(Clone, Copy)]
struct Bare;

impl Service<Request<()>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("every service here answers at once"),
    }
}

fn variants() -> Vec<(&'static str, CircuitBreakerLayer)> {
    let quiet = |b: buttress_breaker::CircuitBreakerBuilder| b.build().unwrap();
    vec![
        (
            "count",
            quiet(CircuitBreakerLayer::builder("count").count_window(100)),
        ),
        (
            "count_slow",
            quiet(
                CircuitBreakerLayer::builder("count_slow")
                    .count_window(100)
                    .slow_calls(Duration::from_secs(1), 50.0),
            ),
        ),
        (
            "time",
            quiet(CircuitBreakerLayer::builder("time").time_window(Duration::from_secs(10), 10)),
        ),
    ]
}

fn ready_call<S, R>(svc: &mut S) -> R
where
    S: Service<Request<()>, Response = R>,
    S::Error: std::fmt::Debug,
{
    now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    now(svc.call(Request::new(()))).unwrap()
}

fn closed(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed/ready_call");
    let mut bare = Bare;
    group.bench_function("bare", |b| b.iter(|| black_box(ready_call(&mut bare))));
    for (name, layer) in variants() {
        let mut svc = layer.layer(Bare);
        group.bench_function(name, |b| b.iter(|| black_box(ready_call(&mut svc))));
    }
    group.finish();

    let mut group = c.benchmark_group("closed/oneshot");
    group.bench_function("bare", |b| {
        b.iter(|| black_box(now(bare.oneshot(Request::new(()))).unwrap()))
    });
    for (name, layer) in variants() {
        let svc = layer.layer(Bare);
        group.bench_function(name, |b| {
            b.iter(|| black_box(now(svc.clone().oneshot(Request::new(()))).unwrap()))
        });
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    let layer = CircuitBreakerLayer::builder("open").build().unwrap();
    layer.handle().force_open();
    let mut svc = layer.layer(Bare);
    group.bench_function("ready_call", |b| {
        b.iter(|| {
            now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            black_box(now(svc.call(Request::new(()))).unwrap_err())
        })
    });
    group.bench_function("oneshot", |b| {
        b.iter(|| black_box(now(svc.clone().oneshot(Request::new(()))).unwrap_err()))
    });
    group.finish();
}

criterion_group!(benches, closed, open);

const CALLS: u64 = 2_000_000;

/// Runs `tasks` tasks of `CALLS` calls each on their own clone of `svc`;
/// the elapsed time.
fn run_tasks<S>(runtime: &tokio::runtime::Runtime, svc: &S, tasks: usize) -> Duration
where
    S: Service<Request<()>, Response = Response<()>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(tasks));
    runtime.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let mut svc = svc.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait();
                    for _ in 0..CALLS {
                        black_box(ready_call(&mut svc));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        start.elapsed()
    })
}

/// 2-thread throughput over 1-thread throughput (2.0: perfect scaling),
/// the median of five alternating rounds.
fn scaling<S>(runtime: &tokio::runtime::Runtime, svc: &S) -> f64
where
    S: Service<Request<()>, Response = Response<()>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let mut ratios: Vec<f64> = (0..5)
        .map(|_| {
            let one = run_tasks(runtime, svc, 1);
            let two = run_tasks(runtime, svc, 2);
            2.0 * one.as_secs_f64() / two.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[2]
}

fn two_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let bare = scaling(&runtime, &Bare);
    println!("\nscaling on two threads (2-thread / 1-thread throughput; 2.0 is perfect)");
    println!("  bare        {bare:.2}");
    // Disabled admits and records nothing: its scaling isolates the cost
    // of the path every call takes (lane, future, telemetry) from the
    // windows'.
    let disabled = CircuitBreakerLayer::builder("disabled").build().unwrap();
    disabled.handle().disable();
    let mut all = variants();
    all.push(("disabled", disabled));
    for (name, layer) in all {
        let ratio = scaling(&runtime, &layer.layer(Bare));
        println!(
            "  {name:<11} {ratio:.2}   ({:.0} % of the bare service's own scaling)",
            100.0 * ratio / bare
        );
    }
}

fn main() {
    benches();
    if std::env::args().all(|arg| arg != "--list") {
        two_threads();
    }
    Criterion::default().configure_from_args().final_summary();
}
