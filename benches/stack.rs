//! The two ready-made stacks against the bare service and tower's
//! equivalent stacks, all in the same run.
//!
//! ```text
//! cargo bench -p buttress-benches --bench stack -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p buttress-benches --bench stack --features count-allocations -- allocations-only
//! ```
//!
//! Groups `stack/<call shape>/<request shape>` (`ready` + `call` on one
//! instance, `clone().oneshot(req)` per request; no headers, and the eight
//! headers hyper builds from the wire, `realistic_request`), each with:
//!
//! - `bare`: the handler alone;
//! - `server`: [`ServerStack`] with its defaults (context trusting no
//!   caller, RED metrics into an installed Prometheus recorder, edge,
//!   load shedding by in-flight requests, adaptive limit, 10 s timeout);
//! - `server_trusting`: the same, trusting its caller, so the realistic
//!   request's `x-request-id` and `traceparent` are accepted;
//! - `tower_server`: what tower offers for the same job — tower-http's
//!   `SetRequestId` + `PropagateRequestId`, `LoadShed`, `ConcurrencyLimit`
//!   and `Timeout`;
//! - `client`: [`ClientStack`] with its defaults (context, metrics, retry
//!   with budget, breaker, bulkhead, per-attempt timeout) over the same
//!   service as a transport, cloning requests rather than buffering bodies;
//! - `tower_client`: tower's `Retry` with a `TpsBudget`, `ConcurrencyLimit`
//!   and `Timeout`;
//! - `resilience_*`: tower-resilience 0.13's breaker, bulkhead, retry,
//!   time limiter and adaptive limiter alone, and its client and server
//!   stacks in the order its docs recommend (`stack/resilience.rs`).
//!
//! Futures are polled with a no-op waker inside a current-thread runtime's
//! context (the timeouts need its timer; nothing is ever pending, so no
//! timer is registered). Then allocations per request, and each stack's
//! 2-thread/1-thread throughput next to the bare service's.
//!
//! Two more modes, outside criterion: `--instructions <variant> <calls>
//! <empty|realistic|client>` makes that many calls of one variant, for
//! `scripts/instructions` to count under callgrind (instruction counts do
//! not move with the machine's load); `--sizes` prints each response
//! future's size (every layer moves it).
//!
//! ```text
//! scripts/instructions                      # every variant, over bare
//! cargo bench -p buttress-benches --bench stack -- --sizes
//! ```

use std::hint::black_box;

use buttress_benches::{
    Bare, allocations_per_call, bench_shapes, oneshot, ready_call, realistic_request, scaling_of,
    scaling_share,
};
use criterion::Criterion;
use http::Request;
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::Service;

const PREFIX: &str = "stack";

#[path = "stack/probes.rs"]
mod probes;
#[path = "stack/resilience.rs"]
mod resilience;
#[path = "stack/variants.rs"]
mod variants;

use probes::{Instructions, Shape, sizes};
use resilience::each_resilience;
use variants::{Visit, each_ablation, each_layer, each_stack};

struct Bench<'a>(&'a mut Criterion);

impl Visit for Bench<'_> {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        bench_shapes(self.0, PREFIX, name, svc);
    }
}

struct Allocations;

impl Visit for Allocations {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        report_allocations(name, svc);
    }
}

/// Each variant's 2-thread/1-thread throughput as a share of the bare
/// service's, bare measured beside it in every round (`scaling_share`);
/// and, once, the bare service's own ratio, to show how free the second
/// core was.
struct Scaling;

impl Visit for Scaling {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        // Each thread needs a runtime's context for the timeouts' timer.
        if name == "bare" {
            let ratio = scaling_of(200_000, InRuntime::new(svc));
            println!("2-thread/1-thread: bare {ratio:.2}");
            return;
        }
        let share = scaling_share(7, 200_000, InRuntime::new(Bare), InRuntime::new(svc));
        println!(
            "2-thread/1-thread: {name} {:.0} % of bare's (median of 7 rounds, bare beside it in each)",
            100.0 * share
        );
    }
}

/// Passes on the one variant named `name`.
struct Only<'a, V> {
    name: &'static str,
    visit: &'a mut V,
}

impl<V: Visit> Visit for Only<'_, V> {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        if name == self.name {
            self.visit.visit(name, svc);
        }
    }
}

fn main() {
    PrometheusBuilder::new()
        .install_recorder()
        .expect("the bench installs the only recorder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--sizes") {
        sizes();
        return;
    }

    if let Some(at) = args.iter().position(|arg| arg == "--instructions") {
        let mut run = Instructions {
            variant: args.get(at + 1).cloned().unwrap_or_default(),
            calls: args.get(at + 2).and_then(|n| n.parse().ok()).unwrap_or(1),
            shape: Shape::parse(args.get(at + 3).map_or("", String::as_str)),
        };
        each_stack(&mut run);
        each_ablation(&mut run);
        each_layer(&mut run);
        each_resilience(&mut run);
        return;
    }
    if args.iter().any(|arg| arg == "allocations-only") {
        each_stack(&mut Allocations);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    each_stack(&mut Bench(&mut criterion));
    each_ablation(&mut Bench(&mut criterion));
    each_resilience(&mut Bench(&mut criterion));
    if std::env::var_os("SCALING").is_none_or(|v| v != "0") {
        let mut scaling = Scaling;
        each_stack(&mut scaling);
        // The RED layer alone too: its shared histograms are what two
        // threads contend on.
        each_layer(&mut Only {
            name: "layer_red",
            visit: &mut scaling,
        });
        // Where the stacks' contention is: the stack without each layer,
        // and the other layers with shared state alone.
        for name in [
            "without_metrics",
            "without_adaptive_limit",
            "without_context",
            "edge_only",
        ] {
            each_ablation(&mut Only {
                name,
                visit: &mut scaling,
            });
        }
        for name in [
            "layer_adaptive",
            "layer_shed_in_flight",
            "layer_context_trusting",
        ] {
            each_layer(&mut Only {
                name,
                visit: &mut scaling,
            });
        }
    }
    criterion.final_summary();
}

/// Allocations per request over the bare service, both request shapes and
/// both call shapes.
fn report_allocations<S>(name: &str, svc: S)
where
    S: Service<Request<()>> + Clone,
{
    let mut one = svc.clone();
    let mut bare = Bare;
    let measure = |op: &mut dyn FnMut()| allocations_per_call(10_000, op);
    let realistic_bare = measure(&mut || {
        black_box(ready_call(&mut bare, realistic_request()).is_ok());
    });
    let Some(realistic_bare) = realistic_bare else {
        println!("allocations: build with --features count-allocations");
        return;
    };
    let figures = [
        measure(&mut || {
            black_box(ready_call(&mut one, Request::new(())).is_ok());
        }),
        measure(&mut || {
            black_box(oneshot(&svc, Request::new(())).is_ok());
        }),
        measure(&mut || {
            black_box(ready_call(&mut one, realistic_request()).is_ok());
        })
        .map(|n| n - realistic_bare),
        measure(&mut || {
            black_box(oneshot(&svc, realistic_request()).is_ok());
        })
        .map(|n| n - realistic_bare),
    ]
    .map(Option::unwrap_or_default);
    println!(
        "allocations per request over bare: {name}: empty ready_call {:.2}, oneshot {:.2}; \
         realistic ready_call {:.2}, oneshot {:.2}",
        figures[0], figures[1], figures[2], figures[3]
    );
}

/// A service that enters a current-thread runtime's context around each
/// call, so that the 2-thread scaling runs (plain OS threads) can create
/// timers. Each clone has a runtime of its own: the scaling runs give
/// each thread its own clone, and entering one shared runtime from both
/// threads on every call would bounce its handle's reference count
/// between the cores, a contention of the harness (it held the bare
/// service's own 2-thread ratio near 0.6) that every variant then paid.
struct InRuntime<S> {
    inner: S,
    runtime: tokio::runtime::Runtime,
}

impl<S> InRuntime<S> {
    fn new(inner: S) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        InRuntime { inner, runtime }
    }
}

impl<S: Clone> Clone for InRuntime<S> {
    fn clone(&self) -> Self {
        InRuntime::new(self.inner.clone())
    }
}

impl<S, R> Service<R> for InRuntime<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let _context = self.runtime.enter();
        self.inner.call(request)
    }
}
