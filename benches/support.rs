//! What every bench shares: the bare service, the two request shapes (no
//! headers; the eight headers a realistic client sends,
//! [`realistic_request`], and the same as hyper builds them from the wire,
//! [`Wire`]), a way to drive an always-ready future without a runtime, the
//! allocation counts, and the two-thread scaling harness.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Request, Response, Uri};
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

/// The values of the eight headers of the realistic shape, in the order
/// `realistic_request` and `Wire` insert them.
const REALISTIC_VALUES: [&str; 8] = [
    "orders.internal:8080",
    "checkout/1.4.2 hyper/1",
    "application/json",
    "application/json",
    "0",
    "7f9c2ba4-e88f-4a3b-9c1d-2f6e8d1a5b30",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
];

/// `request` with the eight headers of the realistic shape, each value
/// made by `value(i)` from `REALISTIC_VALUES[i]`: standard names from
/// constants, custom names parsed from bytes, as hyper builds them.
fn with_headers<B>(mut request: Request<B>, value: impl Fn(usize) -> HeaderValue) -> Request<B> {
    let name = |bytes: &[u8]| HeaderName::from_bytes(bytes).expect("valid name");
    let headers = request.headers_mut();
    headers.insert(HOST, value(0));
    headers.insert(USER_AGENT, value(1));
    headers.insert(ACCEPT, value(2));
    headers.insert(CONTENT_TYPE, value(3));
    headers.insert(CONTENT_LENGTH, value(4));
    headers.insert(name(b"x-request-id"), value(5));
    headers.insert(name(b"traceparent"), value(6));
    headers.insert(AUTHORIZATION, value(7));
    request
}

/// The realistic shape's path.
const REALISTIC_PATH: &str = "/api/v1/orders/42";

/// A GET on `uri` with no headers yet.
fn get<B>(uri: Uri, body: B) -> Request<B> {
    let mut request = Request::new(body);
    *request.uri_mut() = uri;
    request
}

/// A request with the eight headers hyper would build from the wire:
/// standard names from constants, values and custom names parsed from
/// bytes (each value its own buffer: the first clone of one moves it into
/// a shared buffer, one allocation that behind hyper is not paid — see
/// [`Wire`]).
pub fn realistic_request() -> Request<()> {
    // Parsed (copied) from a `&str`, as `Request::get(path)` does.
    let uri = REALISTIC_PATH.parse().expect("valid path");
    with_headers(get(uri, ()), |i| {
        HeaderValue::from_bytes(REALISTIC_VALUES[i].as_bytes()).expect("valid value")
    })
}

/// The realistic request as an HTTP client sends it: the same eight
/// headers, its URI in absolute form (`http://host:port/path`), which
/// hyper-util's client requires and reqwest always builds. Parsing it
/// slices the authority and path from one buffer, so cloning the URI
/// shares that buffer rather than copying it.
pub fn realistic_client_request() -> Request<()> {
    let uri = format!("http://{}{REALISTIC_PATH}", REALISTIC_VALUES[0])
        .parse()
        .expect("valid URI");
    with_headers(get(uri, ()), |i| {
        HeaderValue::from_bytes(REALISTIC_VALUES[i].as_bytes()).expect("valid value")
    })
}

/// The realistic request with its path and values sliced from one shared
/// buffer, as hyper's HTTP/1 parser builds them: cloning such a value is
/// a reference count, not a copy (custom header names are still parsed
/// into buffers of their own, as hyper's are). One `Wire` per thread, as
/// each connection has its own read buffer.
#[derive(Debug)]
pub struct Wire {
    buf: Bytes,
    path: (usize, usize),
    ranges: [(usize, usize); 8],
}

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

impl Wire {
    /// The path and header values of one read, in one buffer.
    pub fn new() -> Self {
        let mut bytes = REALISTIC_PATH.as_bytes().to_vec();
        let path = (0, bytes.len());
        let mut ranges = [(0, 0); 8];
        for (range, value) in ranges.iter_mut().zip(REALISTIC_VALUES) {
            *range = (bytes.len(), bytes.len() + value.len());
            bytes.extend_from_slice(value.as_bytes());
        }
        // Clone once so the buffer is already shared, as hyper's is: the
        // first clone of a `Vec`-backed `Bytes` allocates its shared header.
        let buf = Bytes::from(bytes).clone();
        Wire { buf, path, ranges }
    }

    fn value(&self, i: usize) -> HeaderValue {
        let (start, end) = self.ranges[i];
        HeaderValue::from_maybe_shared(self.buf.slice(start..end)).expect("valid value")
    }

    /// The eight-header request with `body` (a streaming body for layers
    /// that buffer one, `()` otherwise).
    pub fn request<B>(&self, body: B) -> Request<B> {
        let (start, end) = self.path;
        let uri = Uri::from_maybe_shared(self.buf.slice(start..end)).expect("valid path");
        with_headers(get(uri, body), |i| self.value(i))
    }
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
    bench_requests(c, prefix, "realistic", name, svc, realistic_request);
}

/// Benches `svc` as `name` in both call shapes on requests made by `make`,
/// in the groups `<prefix>/<call shape>/<shape>`. Each request is made in
/// the timed loop, just before its call, as hyper hands a server a request
/// it has just parsed: a layer reads its headers from a warm cache. The
/// making (and the dropping, in the inner service) is the same for every
/// variant, and cancels out in the difference to `bare`. Made in
/// criterion's batches before the loop instead, the requests were read
/// cold, and header-reading layers looked ±200 ns worse from run to run.
pub fn bench_requests<S, R>(
    c: &mut criterion::Criterion,
    prefix: &str,
    shape: &str,
    name: &str,
    svc: S,
    make: impl Fn() -> R,
) where
    S: Service<R> + Clone,
{
    use std::hint::black_box;

    let mut one = svc.clone();
    let mut group = c.benchmark_group(format!("{prefix}/ready_call/{shape}"));
    group.bench_function(name, |b| {
        b.iter(|| black_box(ready_call(&mut one, make()).is_ok()))
    });
    group.finish();
    let mut group = c.benchmark_group(format!("{prefix}/oneshot/{shape}"));
    group.bench_function(name, |b| {
        b.iter(|| black_box(oneshot(&svc, make()).is_ok()))
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

/// Allocations per `ready` + `call` of `svc` on requests made by `make`,
/// the making included (subtract the bare service's figure on the same
/// requests); `None` without `count-allocations`.
pub fn allocations_with<S, R>(mut svc: S, make: impl Fn() -> R) -> Option<f64>
where
    S: Service<R>,
{
    allocations_per_call(10_000, || {
        std::hint::black_box(ready_call(&mut svc, make()).is_ok());
    })
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

/// A service's 2-thread/1-thread throughput as a share of the bare
/// service's: the median over `rounds` rounds, each of which measures
/// `bare` and then `svc` back to back. On a shared machine the second
/// core comes and goes; measuring both in the same round keeps that drift
/// out of the share better than one bare figure for a whole run.
pub fn scaling_share<B, S>(rounds: usize, calls: u64, bare: B, svc: S) -> f64
where
    B: Service<Request<()>> + Clone + Send + Sync,
    S: Service<Request<()>> + Clone + Send + Sync,
{
    let mut shares: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let bare_ratio = scaling_each(1, calls, || bare.clone(), call_empty);
            scaling_each(1, calls, || svc.clone(), call_empty) / bare_ratio
        })
        .collect();
    shares.sort_by(f64::total_cmp);
    shares[shares.len() / 2]
}

/// One `ready` + `call` of an empty request, its answer dropped.
fn call_empty<S: Service<Request<()>>>(svc: &mut S) {
    std::hint::black_box(ready_call(svc, empty_request()).is_ok());
}

/// 2-thread/1-thread throughput of `ready` + `call` with [`Wire`] requests
/// (the realistic shape as hyper builds it), each thread on its own clone
/// of `svc` and its own buffer, as each connection reads into its own; the
/// requests are built in the timed loop, so compare with the bare
/// service's ratio from this function, not from [`scaling_of`].
pub fn scaling_on_wire<S>(calls: u64, svc: S) -> f64
where
    S: Service<Request<()>> + Clone + Send + Sync,
{
    scaling_each(
        5,
        calls,
        || (svc.clone(), Wire::new()),
        |(svc, wire): &mut (S, Wire)| {
            std::hint::black_box(ready_call(svc, wire.request(())).is_ok());
        },
    )
}

/// The `main` of a layer bench: its criterion groups, then — unless
/// criterion was only asked to `--list` them — allocations per call, then
/// the two-thread rounds unless `SCALING=0`. A filter that matches no
/// group (`-- allocations-only`) skips the timings.
pub fn run_layer_bench(
    groups: impl FnOnce(&mut criterion::Criterion),
    allocations: impl FnOnce(),
    two_threads: impl FnOnce(),
) {
    let mut criterion = criterion::Criterion::default().configure_from_args();
    groups(&mut criterion);
    if std::env::args().all(|arg| arg != "--list") {
        allocations();
        if std::env::var_os("SCALING").is_none_or(|v| v != "0") {
            two_threads();
        }
    }
    criterion.final_summary();
}

/// Prints 2-thread/1-thread throughput ratios next to the bare service's
/// own, measured in the same run.
#[derive(Debug, Clone, Copy)]
pub struct ScalingReport {
    bare: f64,
}

impl ScalingReport {
    /// Starts the report with the bare service's ratio; `what` says what
    /// ran (e.g. "wire requests"), if anything beyond the default.
    pub fn start(bare: f64, what: Option<&str>) -> Self {
        let what = what.map_or_else(String::new, |what| format!(", {what}"));
        println!("\nscaling on two threads{what} (2-thread / 1-thread throughput; 2.0 is perfect)");
        println!("  {:<24} {bare:.2}", "bare");
        ScalingReport { bare }
    }

    /// One layer's ratio, and its share of bare's.
    pub fn line(&self, name: &str, ratio: f64) {
        println!(
            "  {name:<24} {ratio:.2}   ({:.0} % of bare's)",
            100.0 * ratio / self.bare
        );
    }
}

/// Prints allocations per call (`ready_call`, `oneshot`, empty requests)
/// over the bare service's own.
#[derive(Debug, Clone, Copy)]
pub struct AllocationReport {
    bare: (f64, f64),
}

impl AllocationReport {
    /// Starts the report with the bare service's figures; `None` (after
    /// saying so) when the bench was built without `count-allocations`.
    pub fn start() -> Option<Self> {
        let Some(bare) = allocations_of(Bare) else {
            println!("\nallocations: build with `--features count-allocations` to count them");
            return None;
        };
        println!("\nallocations per call over bare (ready_call, oneshot); bare itself {bare:?}");
        Some(AllocationReport { bare })
    }

    /// One layer's allocations per call, over bare's.
    pub fn line<S>(&self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone,
    {
        let (ready, shot) = allocations_of(svc).unwrap_or_default();
        println!(
            "  {name:<24} ({:.2}, {:.2})",
            ready - self.bare.0,
            shot - self.bare.1
        );
    }
}
