//! The hedge's path where no hedge is needed — the answer comes before
//! the delay — over the bare service, with tower's `Hedge` and
//! tower-resilience 0.13's hedge in the same run.
//!
//! Run:
//!
//! ```text
//! cargo bench -p buttress-benches --bench hedge -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups `hedge/ready_call/<request shape>` (`empty`, `realistic`), as in
//! `retry.rs`; only the `ready_call` shape, since tower's `Hedge` is not
//! `Clone` (`oneshot` clones the service). The dependency answers at once, so what is measured is each hedge's
//! bookkeeping on its common path: Buttress's budget deposit, replay copy,
//! timer and boxed future; tower's latency histogram and its select over
//! two futures; tower-resilience's boxed future and spawned timer. All
//! run inside a tokio runtime's context (their timers need one), polled
//! without scheduling.
//!
//! - `buttress_hedge_fixed`: a 10 ms fixed delay.
//! - `buttress_hedge_adaptive`: the default adaptive delay (p90 of recent
//!   attempts, 1 ms to 1 s).
//! - `tower_hedge`: tower's `Hedge` at its p90 with 10 data points over
//!   10 s, cloning the request.
//! - `tower_resilience_hedge`: `HedgeLayer::new(10 ms)`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use buttress_benches::{Bare, empty_request, ready_call, realistic_request};
use buttress_core::layer::LayerBuilder;
use buttress_retry::{CloneRequest, HedgeConfig, RetryLayer};
use criterion::Criterion;
use http::{Request, Response};
use tower::Layer;
use tower::hedge::{Hedge as TowerHedge, Policy};

const PREFIX: &str = "hedge";

/// A bare service whose error can be cloned, which tower-resilience's
/// hedge requires.
#[derive(Clone, Copy)]
struct CloneErrors;

impl tower::Service<Request<()>> for CloneErrors {
    type Response = Response<()>;
    type Error = std::sync::Arc<Infallible>;
    type Future = Ready<Result<Response<()>, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        drop(request);
        ready(Ok(Response::new(())))
    }
}

/// tower's hedge policy: every request may be hedged, by cloning it.
#[derive(Clone)]
struct CloneAll;

impl Policy<Request<()>> for CloneAll {
    fn clone_request(&self, req: &Request<()>) -> Option<Request<()>> {
        Some(req.clone())
    }

    fn can_retry(&self, _req: &Request<()>) -> bool {
        true
    }
}

fn buttress(hedge: HedgeConfig) -> RetryLayer<CloneRequest> {
    RetryLayer::builder()
        .configure(|c| {
            c.max_attempts = 2;
            c.hedge = Some(hedge);
        })
        .clone_requests()
        .build()
        .expect("valid config")
}

fn timings(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let fixed = HedgeConfig {
        delay: Some(Duration::from_millis(10)),
        ..HedgeConfig::default()
    };
    bench(c, "bare", Bare);
    bench(c, "buttress_hedge_fixed", buttress(fixed).layer(Bare));
    bench(
        c,
        "buttress_hedge_adaptive",
        buttress(HedgeConfig::default()).layer(Bare),
    );
    let tower_hedge =
        TowerHedge::new::<Request<()>>(Bare, CloneAll, 10, 0.9, Duration::from_secs(10));
    bench(c, "tower_hedge", tower_hedge);
    let resilience =
        tower_resilience::hedge::HedgeLayer::new(Duration::from_millis(10)).layer(CloneErrors);
    bench(c, "tower_resilience_hedge", resilience);
}

/// `ready` + `call` on one service, for both request shapes.
fn bench<S>(c: &mut Criterion, name: &str, mut svc: S)
where
    S: tower::Service<Request<()>>,
{
    use std::hint::black_box;
    for (shape, make) in [
        ("empty", empty_request as fn() -> Request<()>),
        ("realistic", realistic_request),
    ] {
        let mut group = c.benchmark_group(format!("{PREFIX}/ready_call/{shape}"));
        group.bench_function(name, |b| {
            b.iter(|| black_box(ready_call(&mut svc, make()).is_ok()))
        });
        group.finish();
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    timings(&mut criterion);
    criterion.final_summary();
}
