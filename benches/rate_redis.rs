//! What the fleet-wide mode adds to a rate-limited request: the
//! per-caller rate limit with `distributed` set against the same limit
//! local, on one hot key within its quota, over a real `redis-server` this
//! bench starts on a free loopback port (and skips, saying so, when it is
//! not installed).
//!
//! ```text
//! cargo bench -p buttress-benches --bench rate_redis            # latency percentiles
//! scripts/instructions rate_limit_local rate_limit_redis        # instructions per request
//! ```
//!
//! The default run makes `BENCH_CALLS` (200,000) decisions of each mode,
//! timed one by one, and prints p50, p99, p99.9 and the limiter's own
//! counters (Redis calls, refills, decisions on the local share).
//! `--instructions <rate_limit_local|rate_limit_redis> <calls>` makes that
//! many calls and nothing else, for callgrind to count — the whole
//! process, so the background refills' share is in the figure.
//!
//! The runtime has one worker thread, where the refills run, as they
//! would beside a server's connection tasks; the calls are made from the
//! main thread and yield every 64 calls, as a connection task does
//! between requests. The lease is 10,000 permits, so that one lease
//! covers a round trip of this loop's millions of calls a second: the
//! lease path, which is what a hot key takes, not the local share.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use buttress_core::BoxError;
use buttress_core::layer::LayerBuilder;
use buttress_limit::rate::{
    KeySource, QuotaConfig, RateLimitHandle, RateLimitLayer, RedisRateConfig,
};
use tower::util::BoxService;
use tower::{Service, ServiceBuilder, ServiceExt};

#[allow(dead_code, unreachable_pub)]
#[path = "../crates/buttress-limit/tests/support/redis_server.rs"]
mod redis_server;

type Svc = BoxService<http::Request<()>, (), BoxError>;

/// A rate-limited service keyed by `x-tenant` with a quota no loop can
/// spend, local or shared through the Redis at `redis`.
fn limited(redis: Option<String>) -> (Svc, RateLimitHandle) {
    let layer = RateLimitLayer::builder()
        .configure(|c| {
            c.key = KeySource::Header("x-tenant".into());
            c.quota = QuotaConfig::per_second(1_000_000_000).burst(100_000);
            c.distributed = redis.map(|url| RedisRateConfig {
                url,
                replicas: 1,
                lease: 10_000,
                ..RedisRateConfig::default()
            });
        })
        .name("bench")
        .build()
        .expect("a valid config");
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(()) });
    (BoxService::new(svc), handle)
}

/// One hot-key request, and how long the limiter took to decide it.
async fn send(svc: &mut Svc) -> Duration {
    let request = http::Request::get("/")
        .header("x-tenant", "hot")
        .body(())
        .expect("a valid request");
    let start = Instant::now();
    let admitted = svc
        .ready()
        .await
        .expect("always ready")
        .call(request)
        .await
        .is_ok();
    let took = start.elapsed();
    assert!(admitted, "the quota is one no loop can spend");
    took
}

/// Makes `calls` decisions, yielding every 64 so the refills run.
async fn run(svc: &mut Svc, calls: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(calls);
    for n in 0..calls {
        took.push(send(svc).await);
        if n % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    took
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let instructions = args.iter().position(|arg| arg == "--instructions");
    if instructions.is_none() && args.iter().any(|arg| arg == "--list") {
        return; // `cargo test --benches` asks for a list; there is none.
    }
    let Some(redis) = redis_server::RedisServer::start("rate_redis") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let url = redis.url();
    runtime.block_on(async move {
        if let Some(at) = instructions {
            let mode = args.get(at + 1).map(String::as_str).unwrap_or_default();
            let calls = args.get(at + 2).and_then(|n| n.parse().ok()).unwrap_or(1);
            let (mut svc, _) = match mode {
                "rate_limit_local" => limited(None),
                "rate_limit_redis" => limited(Some(url)),
                other => panic!("no variant {other}: rate_limit_local or rate_limit_redis"),
            };
            run(&mut svc, calls).await;
            return;
        }
        let calls: usize = std::env::var("BENCH_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        for (mode, redis) in [("local", None), ("redis", Some(url.clone()))] {
            let (mut svc, handle) = limited(redis);
            let mut took = run(&mut svc, calls).await;
            took.sort();
            let at = |q: f64| took[((calls as f64 * q) as usize).min(calls - 1)];
            println!(
                "{mode}: {calls} calls on one hot key: p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}; {:?}",
                at(0.5),
                at(0.99),
                at(0.999),
                took[calls - 1],
                handle.distributed()
            );
        }
    });
}
