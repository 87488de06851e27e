//! Per-call cost of the limiting layers over a bare service, with tower's
//! `ConcurrencyLimit` as a baseline, all in the same run.
//!
//! Shapes: `ready` + `call` on one instance (a server holding its stack),
//! and `clone().oneshot(req)` per request (what axum and tonic do). The
//! inner service answers at once, so what is measured is the layer. The
//! futures are polled with a no-op waker: no runtime in the way, and no
//! paused clock (a paused tokio clock makes every `Instant::now` take a
//! lock; the simulations live in `tests/simulation.rs`).
//!
//! `scaling/*`: two threads calling clones of one stack at once; the time
//! is per call *per thread*, so perfect scaling shows the same time as one
//! thread. Compare each layer's 2-thread/1-thread ratio with the bare
//! service's own.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use buttress_limit::BulkheadLayer;
use buttress_limit::adaptive::AdaptiveLimitLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<()>;

/// The inner service: answers at once.
#[derive(Clone, Copy)]
struct Bare;

impl Service<Req> for Bare {
    type Response = ();
    type Error = Infallible;
    type Future = std::future::Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        black_box(&req);
        std::future::ready(Ok(()))
    }
}

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the bench services answer at once"),
    }
}

#[inline]
fn ready_call<S: Service<Req>>(svc: &mut S) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let _ = black_box(now(svc.call(http::Request::new(()))));
}

#[inline]
fn oneshot<S: Service<Req> + Clone>(svc: &S) {
    let _ = black_box(now(svc.clone().oneshot(http::Request::new(()))));
}

/// Two threads, each making `iters` calls on its own clone; the wall time.
fn two_threads<S: Service<Req> + Clone + Send + 'static>(svc: &S, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut svc = svc.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    ready_call(&mut svc);
                }
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    barrier.wait();
    let elapsed = start.elapsed();
    for thread in threads {
        thread.join().unwrap();
    }
    elapsed
}

fn bench_stack<S>(c: &mut Criterion, name: &str, svc: S)
where
    S: Service<Req> + Clone + Send + 'static,
{
    let mut group = c.benchmark_group("per_call");
    let mut one = svc.clone();
    group.bench_function(format!("{name}/ready_call"), |b| {
        b.iter(|| ready_call(&mut one))
    });
    group.bench_function(format!("{name}/oneshot"), |b| b.iter(|| oneshot(&svc)));
    group.finish();

    let mut group = c.benchmark_group("scaling");
    let mut one = svc.clone();
    group.bench_function(format!("{name}/1_thread"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                ready_call(&mut one);
            }
            start.elapsed()
        })
    });
    group.bench_function(format!("{name}/2_threads"), |b| {
        b.iter_custom(|iters| two_threads(&svc, iters))
    });
    group.finish();
}

fn limits(c: &mut Criterion) {
    bench_stack(c, "bare", Bare);
    bench_stack(
        c,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    bench_stack(
        c,
        "bulkhead",
        BulkheadLayer::builder()
            .max_concurrent(1024)
            .build()
            .unwrap()
            .layer(Bare),
    );
    bench_stack(
        c,
        "adaptive_limit",
        AdaptiveLimitLayer::builder()
            .limits(1024, 1024, 1024)
            .build()
            .unwrap()
            .layer(Bare),
    );
}

criterion_group!(benches, limits);
criterion_main!(benches);
