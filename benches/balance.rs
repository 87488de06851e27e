//! Per-request cost of the endpoint balancer (`buttress-balance`) against
//! tower's p2c `Balance` over `PeakEwmaDiscover`, and the bare service,
//! all in the same run.
//!
//! ```text
//! cargo bench -p buttress-benches --bench balance -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench balance --features count-allocations -- allocations-only
//! scripts/instructions-balance                     # instructions per request, over bare
//! ```
//!
//! Three endpoints, each the bare service (answers at once, allocates
//! nothing); requests `http::Request<()>`. Variants:
//!
//! - `bare`: one endpoint, called directly;
//! - `buttress_balance`: Buttress' [`Balance`] over the three, defaults
//!   (ejection on, no health checks, slow start 10 s, which the endpoints
//!   of a first discovery skip), fed by `discover::static_list`;
//! - `buttress_balance_no_ejection`: the same with `ejection.enabled =
//!   false`, which leaves each endpoint's two shadow breakers in the path,
//!   disabled (they keep the endpoint's type the same): what ejection's
//!   judging costs on top;
//! - `tower_p2c_peak_ewma`: tower's `p2c::Balance` over `PeakEwmaDiscover`
//!   of a `ServiceList` of the same three, default RTT 30 ms and decay
//!   10 s (Buttress' defaults), `CompleteOnResponse`.
//!
//! Groups `balance/<call shape>/<request shape>`, as in `limit.rs`:
//! `ready` + `call` on one instance and `clone().oneshot(req)` per
//! request; no headers and the eight-header request. tower's `Balance` is
//! not `Clone` (it owns its endpoints and chooses through `&mut self`;
//! sharing one takes a `Buffer`, a task and a queue hop per call, which a
//! runtime-free loop cannot measure), so it has `ready` + `call` only,
//! with the `poll_ready` it needs before every call.
//!
//! Then allocations per call (with `count-allocations`), and 2-thread /
//! 1-thread throughput next to the bare service's (`SCALING=0` skips it):
//! Buttress' clones share one balancer, as its users' do; tower has one
//! balancer per thread, which is not the same thing (two balancers that
//! know nothing of each other's load), and is as good as tower gets
//! without a `Buffer`.
//!
//! `--instructions <variant> <calls> [empty|realistic]` makes that many
//! calls of one variant and nothing else, for callgrind to count (see
//! `scripts/instructions-balance`); the variants are the four above
//! (`ready` + `call`) and `bare_oneshot`, `buttress_balance_oneshot`.

use std::hint::black_box;
use std::time::Duration;

use buttress_balance::{Balance, BalanceLayer, StatusOverload, discover};
use buttress_benches::{
    AllocationReport, Bare, ScalingReport, allocations_with, bench_shapes, empty_request, oneshot,
    ready_call, realistic_request, run_layer_bench, scaling_each, scaling_of,
};
use buttress_core::layer::{DefaultClassifier, LayerBuilder};
use criterion::Criterion;
use http::Request;
use tower::Service;
use tower::balance::p2c;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover};

const PREFIX: &str = "balance";
const CALLS: u64 = 2_000_000;

/// Buttress' balancer over three bare endpoints.
type Buttress = Balance<u32, Bare, DefaultClassifier, StatusOverload>;

/// tower's p2c balancer over three bare endpoints under peak EWMA.
type TowerP2c = p2c::Balance<PeakEwmaDiscover<ServiceList<Vec<Bare>>>, Request<()>>;

/// A fresh balancer (state of its own) with the defaults.
fn buttress() -> Buttress {
    buttress_with(true)
}

/// A fresh balancer with ejection on or off, the rest default.
fn buttress_with(ejection: bool) -> Buttress {
    BalanceLayer::builder()
        .configure(|c| c.ejection.enabled = ejection)
        .name("bench")
        .build()
        .expect("the defaults are valid")
        .discover(discover::static_list([(1, Bare), (2, Bare), (3, Bare)]))
}

/// A fresh tower balancer with Buttress' default load settings.
fn tower_p2c() -> TowerP2c {
    let endpoints = ServiceList::new::<Request<()>>(vec![Bare; 3]);
    p2c::Balance::new(PeakEwmaDiscover::new::<Request<()>>(
        endpoints,
        Duration::from_millis(30),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    ))
}

fn timings(c: &mut Criterion) {
    bench_shapes(c, PREFIX, "bare", Bare);
    bench_shapes(c, PREFIX, "buttress_balance", buttress());
    bench_shapes(
        c,
        PREFIX,
        "buttress_balance_no_ejection",
        buttress_with(false),
    );
    let mut tower = tower_p2c();
    for (shape, make) in [
        ("empty", empty_request as fn() -> Request<()>),
        ("realistic", realistic_request),
    ] {
        let mut group = c.benchmark_group(format!("{PREFIX}/ready_call/{shape}"));
        group.bench_function("tower_p2c_peak_ewma", |b| {
            b.iter(|| black_box(ready_call(&mut tower, make()).is_ok()))
        });
        group.finish();
    }
}

fn allocations() {
    let Some(report) = AllocationReport::start() else {
        return;
    };
    report.line("buttress_balance", buttress());
    report.line("buttress_balance_no_ejection", buttress_with(false));
    // Not `Clone`: `ready` + `call` only.
    let bare = allocations_with(Bare, empty_request).unwrap_or_default();
    let tower = allocations_with(tower_p2c(), empty_request).unwrap_or_default();
    println!(
        "  {:<24} ({:.2}, —: not Clone)",
        "tower_p2c_peak_ewma",
        tower - bare
    );
}

fn two_threads() {
    let report = ScalingReport::start(scaling_of(CALLS, Bare), None);
    report.line("buttress (one, shared)", scaling_of(CALLS, buttress()));
    report.line(
        "tower (one per thread)",
        scaling_each(5, CALLS, tower_p2c, |svc: &mut TowerP2c| {
            black_box(ready_call(svc, empty_request()).is_ok());
        }),
    );
}

/// `calls` `ready` + `call`s of `svc`. Never inlined:
/// `scripts/instructions-balance` counts only inside it, by name.
#[inline(never)]
fn counted_ready_call<S: Service<Request<()>>>(svc: &mut S, calls: u64, make: fn() -> Request<()>) {
    for _ in 0..calls {
        black_box(ready_call(svc, make()).is_ok());
    }
}

/// `calls` `clone().oneshot(req)`s of `svc`; counted as
/// [`counted_ready_call`].
#[inline(never)]
fn counted_oneshot<S>(svc: &S, calls: u64, make: fn() -> Request<()>)
where
    S: Service<Request<()>> + Clone,
{
    for _ in 0..calls {
        black_box(oneshot(svc, make()).is_ok());
    }
}

/// `--instructions <variant> <calls> [empty|realistic]`.
fn instructions(variant: &str, calls: u64, make: fn() -> Request<()>) {
    match variant {
        "bare" => counted_ready_call(&mut Bare, calls, make),
        "bare_oneshot" => counted_oneshot(&Bare, calls, make),
        "buttress_balance" => counted_ready_call(&mut buttress(), calls, make),
        "buttress_balance_oneshot" => counted_oneshot(&buttress(), calls, make),
        "buttress_balance_no_ejection" => {
            counted_ready_call(&mut buttress_with(false), calls, make)
        }
        "tower_p2c_peak_ewma" => counted_ready_call(&mut tower_p2c(), calls, make),
        other => panic!(
            "no variant {other}: bare, bare_oneshot, buttress_balance, \
             buttress_balance_oneshot, buttress_balance_no_ejection or tower_p2c_peak_ewma"
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--instructions") {
        let variant = args.get(at + 1).map(String::as_str).unwrap_or_default();
        let calls = args.get(at + 2).and_then(|n| n.parse().ok()).unwrap_or(1);
        let make = match args.get(at + 3).map(String::as_str) {
            Some("realistic") => realistic_request,
            _ => empty_request,
        };
        instructions(variant, calls, make);
        return;
    }
    run_layer_bench(timings, allocations, two_threads);
}
