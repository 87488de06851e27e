//! Per-request cost of the context layers over a bare service, with
//! tower-http's request-id pair as a baseline, all in the same run.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench context -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench context --features count-allocations -- allocations-only
//! ```
//!
//! Server groups `context/<call shape>/<request shape>`: `ready` + `call`
//! on one instance (a server holding its stack) and `clone().oneshot(req)`
//! per request (axum, tonic); requests with no headers and with the eight
//! headers hyper builds from the wire (`realistic_request`). In every group:
//!
//! - `accepted_id`: an internal server trusting its caller. On the
//!   realistic request it accepts the caller's `x-request-id` and
//!   continues its `traceparent`; on the empty one there is nothing to
//!   accept, so it makes an ID and a trace.
//! - `generated_id`: a public server: always a fresh ID.
//! - `tower_http_request_id`: `SetRequestId` + `PropagateRequestId`.
//!
//! `context/<call shape>/wire` is the realistic request again with its
//! values sliced from one shared buffer, as hyper builds them: cloning
//! such a value is a reference count. `realistic` builds each value with
//! `HeaderValue::from_bytes`, whose first clone moves the bytes into a
//! shared buffer (one allocation) — a cost every layer that keeps the ID
//! pays there and not behind hyper.
//!
//! `context/client/*`: the client layer writing a context onto an
//! outbound request with no headers (the usual handler-built call), the
//! context taken from the current one (`scoped`) or from the request's
//! extensions (`extensions`), against the bare service called the same way.
//!
//! Futures are polled with a no-op waker, no runtime in the way, and no
//! paused clock. Then allocations per call over bare (with
//! `count-allocations`), and each server layer's 2-thread/1-thread
//! throughput on wire requests next to the bare service's own ratio from
//! the same run (`SCALING=0` skips it).

use std::hint::black_box;
use std::time::Duration;

use buttress_benches::{
    Bare, ScalingReport, Wire, allocations_per_call, allocations_with, bench_requests,
    bench_shapes, now, ready_call, realistic_request, run_layer_bench, scaling_on_wire,
};
use buttress_context::{ClientContextLayer, ServerContextLayer};
use buttress_core::{RequestContext, TrustPolicy};
use criterion::{BatchSize, Criterion};
use http::Request;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

const PREFIX: &str = "context";
const CALLS: u64 = 500_000;

fn accepted() -> ServerContextLayer {
    ServerContextLayer::internal(TrustPolicy::always())
}

fn generated() -> ServerContextLayer {
    ServerContextLayer::public()
}

type TowerHttp = tower_http::request_id::SetRequestId<
    tower_http::request_id::PropagateRequestId<Bare>,
    MakeRequestUuid,
>;

fn tower_http() -> TowerHttp {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(Bare)
}

/// The context an inbound request leaves: accepted ID, continued trace, a
/// deadline (so the client writes the remaining time).
fn server_context() -> RequestContext {
    let wire = Wire::new();
    let mut seen = None;
    let mut svc = accepted().layer(tower::service_fn(|_: Request<()>| {
        seen = RequestContext::current();
        std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(())))
    }));
    let _ = ready_call(&mut svc, wire.request(()));
    drop(svc);
    let ctx = seen.expect("the server layer stores the context");
    let deadline = ctx.start() + Duration::from_secs(3600);
    ctx.with_deadline(deadline)
}

fn bench_client<S>(c: &mut Criterion, ctx: &RequestContext, name: &str, svc: S)
where
    S: Service<Request<()>> + Clone,
{
    let mut one = svc.clone();
    let mut group = c.benchmark_group(format!("{PREFIX}/client/scoped"));
    // The current context is set once around the whole measurement, as a
    // handler making calls runs inside its request's scope.
    group.bench_function(name, |b| {
        now(ctx
            .clone()
            .scope(async { b.iter(|| black_box(ready_call(&mut one, Request::new(())).is_ok())) }))
    });
    group.finish();
    let mut group = c.benchmark_group(format!("{PREFIX}/client/extensions"));
    group.bench_function(name, |b| {
        b.iter_batched(
            || {
                let mut req = Request::new(());
                req.extensions_mut().insert(ctx.clone());
                req
            },
            |req| black_box(ready_call(&mut one, req).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(c, PREFIX, "accepted_id", accepted().layer(Bare));
    bench_shapes(c, PREFIX, "generated_id", generated().layer(Bare));
    bench_shapes(c, PREFIX, "tower_http_request_id", tower_http());

    let wire = Wire::new();
    let shared = || wire.request(());
    bench_requests(c, PREFIX, "wire", "bare", Bare, shared);
    bench_requests(
        c,
        PREFIX,
        "wire",
        "accepted_id",
        accepted().layer(Bare),
        shared,
    );
    bench_requests(
        c,
        PREFIX,
        "wire",
        "generated_id",
        generated().layer(Bare),
        shared,
    );
    bench_requests(
        c,
        PREFIX,
        "wire",
        "tower_http_request_id",
        tower_http(),
        shared,
    );

    let ctx = server_context();
    bench_client(c, &ctx, "bare", Bare);
    bench_client(
        c,
        &ctx,
        "client_context",
        ClientContextLayer::new().layer(Bare),
    );
}

fn allocations() {
    let empty = || Request::new(());
    let wire = Wire::new();
    let shared = || wire.request(());
    let shapes: [(&str, &dyn Fn() -> Request<()>); 3] = [
        ("empty", &empty),
        ("realistic", &realistic_request),
        ("wire", &shared),
    ];
    let Some(_) = allocations_with(Bare, empty) else {
        println!("\nallocations: build with `--features count-allocations` to count them");
        return;
    };
    println!("\nallocations per ready_call over bare (empty, realistic, wire)");
    type Make<'a> = &'a dyn Fn() -> Request<()>;
    let line = |name: &str, per: &dyn Fn(Make<'_>) -> f64| {
        let over: Vec<String> = shapes
            .iter()
            .map(|(_, make)| {
                let bare = allocations_with(Bare, *make).unwrap_or_default();
                format!("{:.2}", per(*make) - bare)
            })
            .collect();
        println!("  {name:<24} ({})", over.join(", "));
    };
    line("accepted_id", &|make| {
        allocations_with(accepted().layer(Bare), make).unwrap_or_default()
    });
    line("generated_id", &|make| {
        allocations_with(generated().layer(Bare), make).unwrap_or_default()
    });
    line("tower_http_request_id", &|make| {
        allocations_with(tower_http(), make).unwrap_or_default()
    });

    let ctx = server_context();
    let client = |svc: &mut dyn FnMut()| {
        now(ctx
            .clone()
            .scope(async { allocations_per_call(10_000, &mut *svc).unwrap_or_default() }))
    };
    let mut bare = Bare;
    let mut layered = ClientContextLayer::new().layer(Bare);
    let base = client(&mut || {
        black_box(ready_call(&mut bare, Request::new(())).is_ok());
    });
    let injected = client(&mut || {
        black_box(ready_call(&mut layered, Request::new(())).is_ok());
    });
    println!(
        "  {:<24} ({:.2}) scoped, empty outbound request",
        "client_context",
        injected - base
    );
}

/// `CONTEXT_PROBE=<stack> [CONTEXT_PROBE_CALLS=n]`: runs `n` calls of one
/// stack and nothing else, for an instruction count under
/// `valgrind --tool=callgrind` (counts survive a shared machine's noise
/// that timings do not; subtract the matching `bare-*` probe).
fn probe(stack: &str) {
    let calls: u64 = std::env::var("CONTEXT_PROBE_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let wire = Wire::new();
    let empty = || Request::new(());
    let shared = || wire.request(());
    #[inline(never)]
    fn run<S: Service<Request<()>>>(mut svc: S, calls: u64, make: &dyn Fn() -> Request<()>) {
        for _ in 0..calls {
            black_box(ready_call(&mut svc, make()).is_ok());
        }
    }
    match stack {
        "bare-empty" => run(Bare, calls, &empty),
        "bare-wire" => run(Bare, calls, &shared),
        "accepted-wire" => run(accepted().layer(Bare), calls, &shared),
        "accepted-empty" => run(accepted().layer(Bare), calls, &empty),
        "generated-wire" => run(generated().layer(Bare), calls, &shared),
        "generated-empty" => run(generated().layer(Bare), calls, &empty),
        "tower-http-wire" => run(tower_http(), calls, &shared),
        "bare-client" | "client" => {
            let ctx = server_context();
            now(ctx.scope(async {
                if stack == "client" {
                    run(ClientContextLayer::new().layer(Bare), calls, &empty);
                } else {
                    run(Bare, calls, &empty);
                }
            }));
        }
        other => panic!("unknown probe {other}"),
    }
}

/// `CONTEXT_PROBE=time`: per-call time of each server stack on each
/// request shape, over many short batches taken in turn (stack after
/// stack, so a shared machine's drift hits all alike), as the minimum and
/// the median batch. A batch of 64 calls is short enough that most run
/// without being descheduled: the minimum is the figure a busy machine
/// cannot inflate, the median the one it does.
fn time_stacks() {
    type Call = Box<dyn FnMut(Request<()>) -> bool>;
    fn stack<S: Service<Request<()>> + 'static>(mut svc: S) -> Call {
        Box::new(move |req| ready_call(&mut svc, req).is_ok())
    }
    const BATCH: usize = 64;
    let rounds: usize = std::env::var("CONTEXT_PROBE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let wire = Wire::new();
    let shapes: [(&str, &dyn Fn() -> Request<()>); 3] = [
        ("empty", &|| Request::new(())),
        ("realistic", &realistic_request),
        ("wire", &|| wire.request(())),
    ];
    for (shape, make) in shapes {
        let mut stacks: Vec<(&str, Call, Vec<f64>)> = vec![
            ("bare", stack(Bare), vec![]),
            ("accepted_id", stack(accepted().layer(Bare)), vec![]),
            ("generated_id", stack(generated().layer(Bare)), vec![]),
            ("tower_http_request_id", stack(tower_http()), vec![]),
        ];
        for _ in 0..rounds {
            for (_, call, times) in &mut stacks {
                let batch: Vec<Request<()>> = (0..BATCH).map(|_| make()).collect();
                let start = std::time::Instant::now();
                for req in batch {
                    black_box(call(req));
                }
                times.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
            }
        }
        let (mut bare_min, mut bare_med) = (0.0, 0.0);
        for (name, _, times) in &mut stacks {
            times.sort_by(f64::total_cmp);
            let (min, med) = (times[0], times[times.len() / 2]);
            if *name == "bare" {
                (bare_min, bare_med) = (min, med);
            }
            println!(
                "{shape:<10} {name:<24} min {min:7.1} ns (+{:6.1})   median {med:7.1} ns (+{:6.1})",
                min - bare_min,
                med - bare_med
            );
        }
    }
}

/// Each server layer's 2-thread/1-thread throughput next to the bare
/// service's, from the same run, on wire requests: the accepted ID needs
/// a request that carries one.
fn two_threads() {
    let report = ScalingReport::start(scaling_on_wire(CALLS, Bare), Some("wire requests"));
    let line = |name: &str, r: f64| report.line(name, r);
    line(
        "accepted_id",
        scaling_on_wire(CALLS, accepted().layer(Bare)),
    );
    line(
        "generated_id",
        scaling_on_wire(CALLS, generated().layer(Bare)),
    );
    line(
        "tower_http_request_id",
        scaling_on_wire(CALLS, tower_http()),
    );
}

fn main() {
    match std::env::var("CONTEXT_PROBE").as_deref() {
        Ok("time") => return time_stacks(),
        Ok(stack) => return probe(stack),
        Err(_) => {}
    }
    run_layer_bench(timings, allocations, two_threads);
}
