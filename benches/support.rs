//! What every bench shares: the bare service, the two request shapes of
//! DESIGN.md "Measuring", a way to drive an always-ready future without a
//! runtime, and the two-thread scaling harness.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Request, Response};
use tower::Service;

/// The dependency every bench wraps: answers at once, allocates nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bare;

impl<B> Service<Request<B>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

/// `http::Request<()>` with no headers.
pub fn empty_request() -> Request<()> {
    Request::new(())
}

/// A request with the eight headers hyper would build from the wire:
/// standard names from constants, values and custom names parsed from
/// bytes.
pub fn realistic_request() -> Request<()> {
    let value = |bytes: &[u8]| HeaderValue::from_bytes(bytes).expect("valid value");
    let mut request = Request::get("/api/v1/orders/42")
        .body(())
        .expect("valid request");
    let headers = request.headers_mut();
    headers.insert(HOST, value(b"orders.internal:8080"));
    headers.insert(USER_AGENT, value(b"checkout/1.4.2 hyper/1"));
    headers.insert(ACCEPT, value(b"application/json"));
    headers.insert(CONTENT_TYPE, value(b"application/json"));
    headers.insert(CONTENT_LENGTH, value(b"0"));
    headers.insert(
        HeaderName::from_bytes(b"x-request-id").expect("valid name"),
        value(b"7f9c2ba4-e88f-4a3b-9c1d-2f6e8d1a5b30"),
    );
    headers.insert(
        HeaderName::from_bytes(b"traceparent").expect("valid name"),
        value(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    headers.insert(AUTHORIZATION, value(b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"));
    request
}

/// A request carrying a body, for layers that buffer one.
pub fn body_request(body: &'static [u8]) -> Request<Bytes> {
    Request::post("/api/v1/orders")
        .body(Bytes::from_static(body))
        .expect("valid request")
}

/// Polls a future that every service here completes at once, without a
/// runtime (a runtime would add its own cost to every figure).
pub fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a benched service must answer at once"),
    }
}

/// Runs `calls` calls of `call` on each of `threads` threads of a
/// multi-thread runtime, and returns the wall time. Comparing 2 threads
/// with 1 gives a layer's scaling; compare it with the bare service's own
/// scaling measured in the same run.
pub fn run_on_threads<F, Fut>(threads: usize, calls: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..threads)
            .map(|_| {
                let call = call.clone();
                tokio::spawn(async move {
                    for _ in 0..calls {
                        call().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("bench task");
        }
        start.elapsed()
    })
}

/// Throughput on `threads` threads relative to one thread: 2.0 is perfect
/// scaling on two threads.
pub fn scaling<F, Fut>(calls: u64, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let one = run_on_threads(1, calls, call.clone());
    let two = run_on_threads(2, calls, call);
    // Two threads did twice the calls.
    2.0 * one.as_secs_f64() / two.as_secs_f64()
}

/// Runs `calls` calls of `op` on each of `threads` OS threads at once, each
/// thread on its own state made by `make` (typically its own clone of the
/// service, called with `ready` + `call` as a server connection does), and
/// returns the wall time from a common start.
pub fn run_each_on_threads<S, M, F>(threads: usize, calls: u64, make: &M, op: &F) -> Duration
where
    M: Fn() -> S + Sync,
    F: Fn(&mut S) + Sync,
{
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut state = make();
                    // Warm up: first-call costs (thread-locals, caches).
                    op(&mut state);
                    barrier.wait();
                    for _ in 0..calls {
                        op(&mut state);
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for worker in workers {
            worker.join().expect("bench thread");
        }
        start.elapsed()
    })
}

/// 2-thread/1-thread throughput of `op` on per-thread state, the median of
/// `rounds` alternating rounds (a shared machine drifts; the median of
/// alternating rounds survives it better than one long round).
pub fn scaling_each<S, M, F>(rounds: usize, calls: u64, make: M, op: F) -> f64
where
    M: Fn() -> S + Sync,
    F: Fn(&mut S) + Sync,
{
    let mut ratios: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let one = run_each_on_threads(1, calls, &make, &op);
            let two = run_each_on_threads(2, calls, &make, &op);
            2.0 * one.as_secs_f64() / two.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Polls `poll_ready` then `call` on `svc`, both completing at once: the
/// shape of a server connection holding its stack.
pub fn ready_call<S, R>(svc: &mut S, request: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    now(std::future::poll_fn(|cx| svc.poll_ready(cx)))?;
    now(svc.call(request))
}

/// Clones `svc` and `oneshot`s the request: the shape of axum and tonic,
/// which clone the stack per request.
pub fn oneshot<S, R>(svc: &S, request: R) -> Result<S::Response, S::Error>
where
    S: Service<R> + Clone,
{
    use tower::ServiceExt;
    now(svc.clone().oneshot(request))
}

/// Allocations per call of `op` over `calls` calls, when the bench was
/// built with the `count-allocations` feature (a counting global
/// allocator, kept out of the timed runs because it costs every
/// allocation a little); `None` without it.
#[allow(unused_variables, unused_mut)]
pub fn allocations_per_call(calls: u64, mut op: impl FnMut()) -> Option<f64> {
    #[cfg(feature = "count-allocations")]
    {
        op(); // first-call allocations (thread-locals) are not per call
        let info = allocation_counter::measure(|| {
            for _ in 0..calls {
                op();
            }
        });
        Some(info.count_total as f64 / calls as f64)
    }
    #[cfg(not(feature = "count-allocations"))]
    {
        None
    }
}

/// Benches `svc` as `name` in both call shapes (`ready_call`, `oneshot`)
/// and both request shapes (`empty`, `realistic`), in the groups
/// `<prefix>/<call shape>/<request shape>`, so that every layer of one
/// bench binary lines up with `bare` in each group. The inner service
/// drops the request, the same for every layer.
pub fn bench_shapes<S>(c: &mut criterion::Criterion, prefix: &str, name: &str, svc: S)
where
    S: Service<Request<()>> + Clone,
{
    use criterion::BatchSize;
    use std::hint::black_box;

    // An empty request costs a few stores and no allocation: built in the
    // loop, which keeps criterion's per-iteration overhead (and noise)
    // lowest. A realistic one allocates its header map: built outside.
    let mut one = svc.clone();
    let mut group = c.benchmark_group(format!("{prefix}/ready_call/empty"));
    group.bench_function(name, |b| {
        b.iter(|| black_box(ready_call(&mut one, empty_request()).is_ok()))
    });
    group.finish();
    let mut group = c.benchmark_group(format!("{prefix}/oneshot/empty"));
    group.bench_function(name, |b| {
        b.iter(|| black_box(oneshot(&svc, empty_request()).is_ok()))
    });
    group.finish();
    let mut group = c.benchmark_group(format!("{prefix}/ready_call/realistic"));
    group.bench_function(name, |b| {
        b.iter_batched(
            realistic_request,
            |req| black_box(ready_call(&mut one, req).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let mut group = c.benchmark_group(format!("{prefix}/oneshot/realistic"));
    group.bench_function(name, |b| {
        b.iter_batched(
            realistic_request,
            |req| black_box(oneshot(&svc, req).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Allocations per call of `svc` in both call shapes (`ready_call`,
/// `oneshot`), empty requests; `None` without `count-allocations`.
pub fn allocations_of<S>(svc: S) -> Option<(f64, f64)>
where
    S: Service<Request<()>> + Clone,
{
    use std::hint::black_box;

    let mut one = svc.clone();
    let ready = allocations_per_call(10_000, || {
        black_box(ready_call(&mut one, empty_request()).is_ok());
    })?;
    let shot = allocations_per_call(10_000, || {
        black_box(oneshot(&svc, empty_request()).is_ok());
    })?;
    Some((ready, shot))
}

/// 2-thread/1-thread throughput of `ready` + `call` with empty requests,
/// each thread on its own clone of `svc` (so sharing only what the layer
/// shares), the median of five alternating rounds of `calls` calls.
pub fn scaling_of<S>(calls: u64, svc: S) -> f64
where
    S: Service<Request<()>> + Clone + Send + Sync,
{
    scaling_each(
        5,
        calls,
        || svc.clone(),
        |svc: &mut S| {
            std::hint::black_box(ready_call(svc, empty_request()).is_ok());
        },
    )
}
