//! Leak tests: many requests through the full server stack and the full
//! client stack, half of them cancelled mid-flight and 1 % panicking
//! inside the inner service; afterwards every permit is back, nothing
//! reads in flight or queued, no half-open probe slot is lost, and the
//! keyed maps are within their bounds.
//!
//! In-process services on tokio's paused clock: no sockets, exact and
//! fast. The ordinary suite runs 100,000 requests through each stack;
//! `scripts/soak` runs the same at 1,000,000 (`LEAK_REQUESTS`), through the
//! ignored `*_soak` tests.

#![cfg(all(feature = "stack", feature = "chaos", feature = "axum"))]

use buttress::core::layer::LayerBuilder;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress::breaker::{BreakerConfig, CircuitBreakerLayer, State};
use buttress::chaos::{AbortConfig, ChaosConfig, DelayConfig, Latency};
use buttress::core::context::FaultAbort;
use buttress::limit::adaptive::AdaptiveLimitConfig;
use buttress::limit::{BulkheadConfig, BulkheadLayer};
use buttress::stack::{ClientStack, ServerStack};
use buttress::{BoxError, Rejected};
use http::StatusCode;
use tokio::task::JoinSet;
use tower::{Layer, ServiceExt};

/// One request arrives every 250 µs (4,000/s): more than the limits let
/// through at once, so queues fill and some requests are refused.
const ARRIVAL: Duration = Duration::from_micros(250);
/// Distinct tenants / hosts: far more than the keyed maps may hold.
const KEYS: u64 = 1_000;
/// The keyed maps' bound.
const MAX_KEYS: usize = 32;

fn requests_from_env(default: u64) -> u64 {
    std::env::var("LEAK_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Request `i`: how long its handler takes, whether it panics there, and
/// when (if at all) the caller gives up on it. Deterministic: a hash of
/// `i`, not a clock or a shared RNG.
#[derive(Clone, Copy)]
struct Plan {
    work: Duration,
    panics: bool,
    cancel_after: Option<Duration>,
    key: u64,
}

fn plan(i: u64) -> Plan {
    let h = mix(i);
    let work = Duration::from_millis(1 + h % 30);
    // Half are cancelled, at a point from "still queued" to "almost done".
    let cancel_after = i
        .is_multiple_of(2)
        .then(|| Duration::from_micros(200 + (h >> 8) % 30_000));
    Plan {
        work,
        panics: (h >> 20).is_multiple_of(100),
        cancel_after,
        key: (h >> 32) % KEYS,
    }
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d1_049b_b133_111b);
    x ^ (x >> 31)
}

fn request(i: u64) -> http::Request<()> {
    let plan = plan(i);
    http::Request::builder()
        .uri(format!("http://dep-{}.test/items", plan.key))
        .header("x-request-index", i)
        .header("x-tenant", plan.key)
        .body(())
        .unwrap()
}

fn index_of<B>(req: &http::Request<B>) -> u64 {
    req.headers()["x-request-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// What happened to the requests.
#[derive(Default, Debug)]
struct Tally {
    outcomes: BTreeMap<String, u64>,
    /// Resident memory (KiB) after warm-up and at the end.
    rss_kib: (u64, u64),
}

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.outcomes.entry(what.into()).or_default() += 1;
    }

    fn get(&self, what: &str) -> u64 {
        self.outcomes.get(what).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| !k.starts_with("peak"))
            .map(|(_, v)| v)
            .sum()
    }

    fn add_peak(&mut self, peak: usize) {
        self.outcomes
            .insert("peak callers at once".into(), peak as u64);
    }
}

/// Runs `n` calls, one every [`ARRIVAL`] of (paused) time, each one's
/// outcome a label. Local tasks (the tests run in a `LocalSet`): a panic
/// in one ends that task only, and the futures need not be `Send`.
async fn drive<F, Fut>(n: u64, call: F) -> Tally
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = String> + 'static,
{
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    let mut record = |result: Result<String, tokio::task::JoinError>| match result {
        Ok(label) => tally.add(label),
        Err(error) if error.is_panic() => tally.add("panicked"),
        Err(error) => panic!("{error}"),
    };
    let start = tokio::time::Instant::now();
    let mut peak = 0;
    let mut warm_rss = 0;
    for i in 0..n {
        if i == n / 10 {
            warm_rss = resident_kib();
        }
        tokio::time::sleep_until(start + ARRIVAL * i as u32).await;
        while let Some(result) = tasks.try_join_next() {
            record(result);
        }
        let fut = call(i);
        tasks.spawn_local(async move {
            match plan(i).cancel_after {
                Some(after) => tokio::time::timeout(after, fut)
                    .await
                    .unwrap_or_else(|_| "cancelled".into()),
                None => fut.await,
            }
        });
        peak = peak.max(tasks.len());
    }
    while let Some(result) = tasks.join_next().await {
        record(result);
    }
    tally.add_peak(peak);
    tally.rss_kib = (warm_rss, resident_kib());
    tally
}

/// The process's resident set, in KiB (0 where /proc is not there).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// The soak's memory check: resident memory after the run within 10 % of
/// what it was after warm-up (the first tenth of the requests).
fn assert_memory_flat(tally: &Tally) {
    let (warm, end) = tally.rss_kib;
    println!("resident memory: {warm} KiB after warm-up, {end} KiB at the end");
    if warm > 0 {
        assert!(
            end * 10 <= warm * 11,
            "resident memory grew {warm} -> {end} KiB (more than 10 %)"
        );
    }
}

async fn server_stack(n: u64) -> Tally {
    let handled = Arc::new(AtomicU64::new(0));
    let seen = handled.clone();
    let handler = tower::service_fn(move |req: http::Request<()>| {
        seen.fetch_add(1, Ordering::Relaxed);
        let plan = plan(index_of(&req));
        async move {
            tokio::time::sleep(plan.work).await;
            if plan.panics {
                panic!("injected panic in the handler");
            }
            Ok::<_, BoxError>(http::Response::new(String::from("ok")))
        }
    });
    let server = ServerStack::new("leak")
        .bulkhead(BulkheadConfig {
            max_concurrent: 48,
            queue_capacity: 32,
            max_wait: Duration::from_millis(20),
            ..Default::default()
        })
        // Bounded so that the test load, not the algorithm's view of the
        // random latencies, decides how much gets through.
        .adaptive_limit(AdaptiveLimitConfig {
            min_limit: 40,
            initial_limit: Some(56),
            max_limit: 80,
            max_wait: Duration::from_millis(10),
            queue_capacity: 64,
            ..Default::default()
        })
        .timeout(Duration::from_millis(28))
        .build()
        .unwrap();
    let per_tenant = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 4;
            c.max_keys = MAX_KEYS;
        })
        .name("per-tenant")
        .build_keyed(|req: &http::Request<()>| req.headers()["x-tenant"].clone())
        .unwrap();
    let svc = server.layer(per_tenant.layer(handler));

    let tally = drive(n, |i| {
        let svc = svc.clone();
        async move {
            let res = svc.oneshot(request(i)).await.expect("the edge never fails");
            match res.extensions().get::<Rejected>() {
                Some(rejected) => {
                    format!("{} {}", res.status().as_u16(), rejected.reason().as_str())
                }
                None => res.status().as_u16().to_string(),
            }
        }
    })
    .await;
    println!("server stack, {n} requests: {tally:?}");

    // Only documented answers: 200, the handler's panic as 500, a full
    // limit or queue as 503, the timeout as 504.
    for outcome in tally.outcomes.keys() {
        let status = outcome.split(' ').next().unwrap();
        assert!(
            ["200", "500", "503", "504", "cancelled", "peak"].contains(&status),
            "unexpected outcome {outcome}"
        );
    }
    assert_eq!(tally.total(), n);
    assert!(tally.get("cancelled") >= n / 8, "{tally:?}");
    assert!(
        tally.get("500") > 0,
        "no panic reached the handler: {tally:?}"
    );
    assert!(tally.get("200") > n / 10, "{tally:?}");

    // Every permit is back.
    let adaptive = server.adaptive_limit().expect("on");
    let bulkhead = server.bulkhead().expect("on");
    assert_eq!(adaptive.in_flight(), 0, "adaptive limit permits leaked");
    assert_eq!(adaptive.queued(), 0, "adaptive limit waiters leaked");
    assert_eq!(bulkhead.in_flight(), 0, "bulkhead permits leaked");
    assert_eq!(bulkhead.queued(), 0, "bulkhead waiters leaked");
    assert!(adaptive.limit() >= 1);
    let tenants = per_tenant.handle();
    for key in 0..KEYS {
        let key = http::HeaderValue::from(key);
        assert_eq!(tenants.in_flight_of(&key), 0, "tenant {key:?} leaked");
        assert_eq!(tenants.queued_of(&key), 0);
    }
    assert!(
        tenants.tracked_keys() <= MAX_KEYS + 1,
        "{} keys tracked, at most {MAX_KEYS} (+ overflow) allowed",
        tenants.tracked_keys()
    );
    assert!(handled.load(Ordering::Relaxed) > 0);
    tally
}

async fn client_stack(n: u64) -> Tally {
    let called = Arc::new(AtomicU64::new(0));
    let seen = called.clone();
    let transport = tower::service_fn(move |req: http::Request<()>| {
        seen.fetch_add(1, Ordering::Relaxed);
        let i = index_of(&req);
        let plan = plan(i);
        async move {
            tokio::time::sleep(plan.work).await;
            if plan.panics {
                panic!("injected panic in the transport");
            }
            // Bursts of failures: the breaker trips, half-opens, probes.
            let status = if (i / 2_000) % 5 == 4 && !i.is_multiple_of(3) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let res = http::Response::builder()
                .status(status)
                .body(String::from("dep"))
                .unwrap();
            Ok::<_, BoxError>(res)
        }
    });
    let chaos = ChaosConfig {
        name: Some("dep".into()),
        abort: Some(AbortConfig {
            percent: 2.0,
            with: FaultAbort::HttpStatus(StatusCode::BAD_GATEWAY),
        }),
        delay: Some(DelayConfig {
            percent: 5.0,
            latency: Latency::uniform(Duration::from_millis(1), Duration::from_millis(40)),
        }),
        seed: Some(7),
        ..ChaosConfig::default()
    };
    let client = ClientStack::new("leak-dep")
        .breaker(BreakerConfig {
            minimum_calls: 20,
            wait: Duration::from_millis(200),
            permitted_probes: 3,
            ..BreakerConfig::default()
        })
        .bulkhead(BulkheadConfig {
            max_concurrent: 64,
            queue_capacity: 32,
            max_wait: Duration::from_millis(5),
            ..Default::default()
        })
        .timeout(Duration::from_millis(25))
        .chaos(chaos)
        .clone_requests()
        .build()
        .unwrap();
    let chaos_handle = client.chaos().unwrap().clone();
    // One breaker per host, in a map of at most MAX_KEYS.
    let per_host = CircuitBreakerLayer::builder()
        .with_config(BreakerConfig {
            minimum_calls: 5,
            wait: Duration::from_millis(100),
            max_keys: MAX_KEYS,
            ..BreakerConfig::default()
        })
        .name("per-host")
        .build_keyed(|req: &http::Request<()>| req.uri().host().unwrap_or("").to_owned())
        .unwrap();
    let svc = client.layer(per_host.layer(transport));

    let tally = drive(n, |i| {
        let svc = svc.clone();
        async move {
            match svc.oneshot(request(i)).await {
                Ok(res) => res.status().as_u16().to_string(),
                Err(error) => match Rejected::find(&*error) {
                    Some(rejected) => format!("rejected: {}", rejected.reason()),
                    None => format!("error: {error}"),
                },
            }
        }
    })
    .await;
    println!("client stack, {n} requests: {tally:?}");
    assert_eq!(tally.total(), n);
    assert!(tally.get("cancelled") >= n / 8, "{tally:?}");
    assert!(
        tally.get("panicked") > 0,
        "no panic reached the transport: {tally:?}"
    );

    let breaker = client.breaker().expect("on").stats();
    println!("breaker: {breaker:?}; chaos: {:?}", chaos_handle.stats());
    assert!(
        breaker.probes_in_flight == 0,
        "half-open probe slots lost: {breaker:?}"
    );
    if breaker.state == State::HalfOpen {
        // A half-open breaker with no probe out must admit one.
        let res = svc.clone().oneshot(request(1)).await;
        assert!(res.is_ok() || res.is_err());
    }
    let bulkhead = client.bulkhead().expect("on");
    assert_eq!(bulkhead.in_flight(), 0, "client bulkhead permits leaked");
    assert_eq!(bulkhead.queued(), 0, "client bulkhead waiters leaked");
    assert_eq!(chaos_handle.active(), 0, "chaos still counts active faults");
    let keys = per_host.handle().key_stats();
    assert!(keys.len <= MAX_KEYS + 1, "{keys:?}");
    for host in 0..KEYS {
        if let Some(handle) = per_host.handle().breaker(&format!("dep-{host}.test")) {
            let stats = handle.stats();
            assert_eq!(stats.probes_in_flight, 0, "dep-{host}: {stats:?}");
        }
    }
    assert!(called.load(Ordering::Relaxed) > 0);
    tally
}

#[tokio::test(start_paused = true)]
async fn server_stack_returns_every_permit_after_100k_requests() {
    tokio::task::LocalSet::new()
        .run_until(server_stack(requests_from_env(100_000)))
        .await;
}

#[tokio::test(start_paused = true)]
async fn client_stack_returns_every_permit_after_100k_requests() {
    tokio::task::LocalSet::new()
        .run_until(client_stack(requests_from_env(100_000)))
        .await;
}

/// The leak test at 1,000,000 requests through the server stack.
#[tokio::test(start_paused = true)]
#[ignore = "a soak (1,000,000 requests), too slow for every suite; run: scripts/soak"]
async fn server_stack_soak() {
    let tally = tokio::task::LocalSet::new()
        .run_until(server_stack(requests_from_env(1_000_000)))
        .await;
    assert_memory_flat(&tally);
}

/// The leak test at 1,000,000 requests through the client stack.
#[tokio::test(start_paused = true)]
#[ignore = "a soak (1,000,000 requests), too slow for every suite; run: scripts/soak"]
async fn client_stack_soak() {
    let tally = tokio::task::LocalSet::new()
        .run_until(client_stack(requests_from_env(1_000_000)))
        .await;
    assert_memory_flat(&tally);
}

/// The soak over real sockets: the server stack on loopback, a handler
/// that fails and panics now and then, under load from keep-alive
/// connections for `SOAK_SECONDS` (default 60, at most 600). Checks that
/// resident memory after warm-up grows less than 10 %, that only
/// documented answers occur, that every request sent got an answer, that
/// the counts reconcile with what the handler saw, and that every permit
/// is back afterwards. Real time, real TCP: `scripts/soak` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a real-time soak (SOAK_SECONDS, default 60); run: scripts/soak"]
async fn loopback_soak() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .min(600);
    let entered = Arc::new(AtomicU64::new(0));
    let seen = entered.clone();
    let server = ServerStack::new("soak")
        .bulkhead(BulkheadConfig {
            max_concurrent: 32,
            queue_capacity: 16,
            max_wait: Duration::from_millis(5),
            ..Default::default()
        })
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move |req: http::Request<axum::body::Body>| {
                let i = seen.fetch_add(1, Ordering::Relaxed);
                let plan = plan(index_of(&req));
                async move {
                    tokio::time::sleep(plan.work / 10).await;
                    if plan.panics {
                        panic!("injected panic in the handler");
                    }
                    if i % 50 == 7 {
                        // An injected fault: the handler's own 500.
                        return Err(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    if i.is_multiple_of(97) {
                        // Past the stack's timeout: 504.
                        tokio::time::sleep(Duration::from_millis(80)).await;
                    }
                    Ok("ok")
                }
            }),
        )
        .layer(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let next = Arc::new(AtomicU64::new(0));
    let start = std::time::Instant::now();
    let end = start + Duration::from_secs(seconds);
    // Warm: the first quarter of the run (allocator arenas, connection
    // pools and the adaptive limit settle).
    let warm_at = start + Duration::from_secs(seconds) / 4;
    let warm_rss = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..16 {
        let (client, next, warm_rss) = (client.clone(), next.clone(), warm_rss.clone());
        workers.spawn(async move {
            let mut tally = BTreeMap::<u16, u64>::new();
            let mut sent = 0u64;
            while std::time::Instant::now() < end {
                if std::time::Instant::now() >= warm_at && warm_rss.load(Ordering::Relaxed) == 0 {
                    warm_rss.store(resident_kib(), Ordering::Relaxed);
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let req = http::Request::builder()
                    .uri(format!("http://{addr}/"))
                    .header("x-request-index", i)
                    .body(Empty::new())
                    .unwrap();
                sent += 1;
                let res = client
                    .request(req)
                    .await
                    .expect("an answer to every request");
                let status = res.status().as_u16();
                res.into_body().collect().await.expect("a whole body");
                *tally.entry(status).or_default() += 1;
            }
            (sent, tally)
        });
    }
    let (mut sent, mut tally) = (0, BTreeMap::<u16, u64>::new());
    while let Some(result) = workers.join_next().await {
        let (s, t) = result.unwrap();
        sent += s;
        for (status, n) in t {
            *tally.entry(status).or_default() += n;
        }
    }
    let end_rss = resident_kib();
    let warm = warm_rss.load(Ordering::Relaxed);
    let answered: u64 = tally.values().sum();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "loopback soak: {sent} requests in {elapsed:.0} s ({:.0}/s), answers {tally:?}, \
         handler entered {}; resident memory {warm} KiB after warm-up, {end_rss} KiB at the end",
        sent as f64 / elapsed,
        entered.load(Ordering::Relaxed)
    );
    assert_eq!(answered, sent, "a request without an answer");
    for status in tally.keys() {
        assert!(
            [200, 500, 503, 504].contains(status),
            "undocumented answer {status}"
        );
    }
    // Reconcile: refusals (503) never reached the handler; every 200, 500
    // (its own or its panic, answered by the edge) and 504 (the timeout
    // is the innermost layer) did — exactly once.
    let count = |status: u16| tally.get(&status).copied().unwrap_or(0);
    assert_eq!(
        entered.load(Ordering::Relaxed),
        count(200) + count(500) + count(504),
        "the answers do not reconcile with what the handler saw"
    );
    assert!(
        warm > 0 && end_rss * 10 <= warm * 11,
        "resident memory grew {warm} -> {end_rss} KiB"
    );
    for _ in 0..100 {
        if server.bulkhead().unwrap().in_flight() == 0
            && server.adaptive_limit().unwrap().in_flight() == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.bulkhead().unwrap().in_flight(), 0);
    assert_eq!(server.adaptive_limit().unwrap().in_flight(), 0);
}
