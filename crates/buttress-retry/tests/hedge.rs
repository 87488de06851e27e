//! Hedging on paused time: the tail it cuts, the load it may add, and the
//! rules that keep it safe (idempotency, the deadline, the budget).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::RequestContext;
use buttress_core::layer::LayerBuilder;
use buttress_core::rng::SharedRng;
use buttress_retry::{HedgeConfig, RetryLayer};
use http::{Request, Response};
use proptest::prelude::*;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// A dependency whose every attempt takes `fast`, except a share `slow`
/// of them that take `slow_latency`; counts the attempts it receives.
fn dependency(
    seed: u64,
    slow: f64,
    fast: Duration,
    slow_latency: Duration,
    attempts: Arc<AtomicU64>,
) -> impl tower::Service<
    Request<()>,
    Response = Response<()>,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response<()>, std::convert::Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    let rng = Arc::new(SharedRng::seeded_or_random(Some(seed)));
    tower::service_fn(move |_req: Request<()>| {
        attempts.fetch_add(1, Ordering::Relaxed);
        let latency = if rng.chance(slow) { slow_latency } else { fast };
        async move {
            tokio::time::sleep(latency).await;
            Ok(Response::new(()))
        }
    })
}

/// What a run of the load measured.
struct Run {
    p99: Duration,
    attempts_per_request: f64,
}

/// `rate` requests a second for `seconds`, each a GET through `layer`
/// over `dependency`; returns the client-side p99 and the attempts per
/// request.
async fn run(
    layer: RetryLayer<buttress_retry::CloneRequest>,
    slow_share: f64,
    rate: u64,
    seconds: u64,
) -> Run {
    let attempts = Arc::new(AtomicU64::new(0));
    let dep = dependency(
        7,
        slow_share,
        Duration::from_millis(5),
        Duration::from_millis(500),
        attempts.clone(),
    );
    let svc = layer.layer(dep);
    let gap = Duration::from_nanos(1_000_000_000 / rate);
    let total = rate * seconds;
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let res = svc.oneshot(Request::get("/item").body(()).unwrap()).await;
            assert!(res.is_ok());
            start.elapsed()
        }));
        tokio::time::sleep(gap).await;
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    Run {
        p99,
        attempts_per_request: attempts.load(Ordering::Relaxed) as f64 / total as f64,
    }
}

fn hedging(config: HedgeConfig) -> RetryLayer<buttress_retry::CloneRequest> {
    RetryLayer::builder()
        .configure(|c| {
            c.seed = Some(1);
            c.max_attempts = 2;
            c.hedge = Some(config);
        })
        .clone_requests()
        .build()
        .unwrap()
}

/// The scenario: 5 ms answers, 2 % of them 500 ms; 200 req/s for
/// 20 s. Hedging at the adaptive p90 cuts p99 from the slow answer's
/// 500 ms to a few fast ones, for about 2 % more attempts.
#[tokio::test(start_paused = true)]
async fn hedging_at_the_adaptive_p90_cuts_the_tail_for_a_few_attempts() {
    let without = run(
        RetryLayer::builder()
            .configure(|c| c.max_attempts = 1)
            .clone_requests()
            .build()
            .unwrap(),
        0.02,
        200,
        20,
    )
    .await;
    let with = run(hedging(HedgeConfig::default()), 0.02, 200, 20).await;
    println!(
        "p99 without hedging {:?}, with {:?}; attempts per request {:.3}",
        without.p99, with.p99, with.attempts_per_request
    );
    assert!(
        without.p99 >= Duration::from_millis(500),
        "{:?}",
        without.p99
    );
    assert!(with.p99 <= Duration::from_millis(30), "{:?}", with.p99);
    assert!(
        with.attempts_per_request <= 1.10,
        "{}",
        with.attempts_per_request
    );
}

/// A dependency slow for every request: every request outlives the delay,
/// but the budget (10 % of requests, plus 10 a second, over 10 s) pays for
/// hedges, so attempts stay within that allowance.
#[tokio::test(start_paused = true)]
async fn a_slow_dependency_gets_no_more_attempts_than_the_budget_allows() {
    let fixed = HedgeConfig {
        delay: Some(Duration::from_millis(2)),
        ..HedgeConfig::default()
    };
    let with = run(hedging(fixed), 1.0, 200, 20).await;
    // 10 % of 200/s plus 10/s: 30 of 200 a second, 1.15 attempts a
    // request; the budget starts with its per-second allowance banked.
    println!("attempts per request {:.3}", with.attempts_per_request);
    assert!(
        with.attempts_per_request <= 1.16,
        "{}",
        with.attempts_per_request
    );
    assert!(
        with.attempts_per_request >= 1.10,
        "hedges were sent: {}",
        with.attempts_per_request
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_without_an_idempotency_key_is_never_hedged() {
    let attempts = Arc::new(AtomicU64::new(0));
    let dep = dependency(
        3,
        1.0,
        Duration::ZERO,
        Duration::from_millis(100),
        attempts.clone(),
    );
    let fixed = HedgeConfig {
        delay: Some(Duration::from_millis(1)),
        ..HedgeConfig::default()
    };
    let svc = hedging(fixed).layer(dep);
    let post = Request::post("/orders").body(()).unwrap();
    svc.clone().oneshot(post).await.unwrap();
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    let keyed = Request::post("/orders")
        .header("idempotency-key", "k-1")
        .body(())
        .unwrap();
    svc.oneshot(keyed).await.unwrap();
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        3,
        "the keyed POST is hedged"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the delay and the deadline, no attempt starts at or after
    /// the request's deadline.
    #[test]
    fn no_hedge_starts_after_the_deadline(
        delay_ms in 1u64..50,
        deadline_ms in 1u64..120,
        latency_ms in 0u64..200,
        max_attempts in 2u32..5,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let started: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
            let log = started.clone();
            let dep = tower::service_fn(move |_req: Request<()>| {
                log.lock().unwrap().push(Instant::now());
                async move {
                    tokio::time::sleep(Duration::from_millis(latency_ms)).await;
                    Ok::<_, std::convert::Infallible>(
                        Response::builder().status(503).body(()).unwrap(),
                    )
                }
            });
            let layer = RetryLayer::builder()
                .configure(|c| {
                    c.max_attempts = max_attempts;
                    c.budget = None;
                    c.hedge = Some(HedgeConfig {
                        delay: Some(Duration::from_millis(delay_ms)),
                        ..HedgeConfig::default()
                    });
                })
                .clone_requests()
                .build()
                .unwrap();
            let start = Instant::now();
            let deadline = start + Duration::from_millis(deadline_ms);
            let mut request = Request::get("/").body(()).unwrap();
            request
                .extensions_mut()
                .insert(RequestContext::new(start).with_deadline(deadline));
            let _ = layer.layer(dep).oneshot(request).await;
            for at in started.lock().unwrap().iter() {
                prop_assert!(*at < deadline, "an attempt at {:?} of a {deadline_ms} ms deadline", *at - start);
            }
            Ok(())
        })?;
    }
}

/// Real sockets: the first attempt hangs, the hedge answers; the server
/// sees the losing attempt cancelled (its connection closed and its
/// handler dropped) soon after the winner's answer.
#[tokio::test]
async fn the_losing_attempt_is_cancelled_on_the_server() {
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    /// Tells the test when the handler holding it is dropped.
    struct Dropped(Option<tokio::sync::oneshot::Sender<Instant>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(Instant::now());
            }
        }
    }

    let (tx, rx) = tokio::sync::oneshot::channel();
    let guard = Arc::new(std::sync::Mutex::new(Some(Dropped(Some(tx)))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let guard = guard.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let held = if req.headers().contains_key("x-retry-attempt") {
                            None
                        } else {
                            guard.lock().unwrap().take()
                        };
                        async move {
                            if held.is_some() {
                                // The first attempt hangs, holding the guard.
                                tokio::time::sleep(Duration::from_secs(30)).await;
                            }
                            drop(held);
                            Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client: Client<_, buttress_retry::ReplayBody<Empty<Bytes>>> =
        Client::builder(TokioExecutor::new()).build_http();
    let layer = RetryLayer::builder()
        .configure(|c| {
            c.max_attempts = 2;
            c.hedge = Some(HedgeConfig {
                delay: Some(Duration::from_millis(50)),
                ..HedgeConfig::default()
            });
        })
        .build()
        .unwrap();
    let request = Request::get(format!("http://{addr}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let start = Instant::now();
    let response = layer.layer(client).oneshot(request).await.unwrap();
    let answered = Instant::now();
    assert_eq!(response.status(), 200);
    assert!(
        answered - start < Duration::from_secs(5),
        "the hedge answered"
    );
    let dropped = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the losing attempt is cancelled on the server")
        .unwrap();
    println!(
        "loser cancelled {:?} after the answer",
        dropped.saturating_duration_since(answered)
    );
    assert!(dropped.saturating_duration_since(answered) < Duration::from_secs(2));
}

/// The paused-time scenario on real sockets, for BENCHMARKS.md: a hyper
/// server on 127.0.0.1 answering in 5 ms, 2 % of requests in 500 ms;
/// 200 req/s for 20 s through hyper-util's client, without and with
/// hedging at the adaptive p90. Real time (about 45 s), so not in CI:
/// `cargo test --release -p buttress-retry --test hedge -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "45 s of real time, figures in BENCHMARKS.md; run: cargo test --release -p buttress-retry --test hedge -- --ignored --nocapture"]
async fn hedging_on_real_sockets() {
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let rng = Arc::new(SharedRng::seeded_or_random(Some(7)));
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let rng = rng.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let slow = rng.chance(0.02);
                        async move {
                            let wait = if slow { 500 } else { 5 };
                            tokio::time::sleep(Duration::from_millis(wait)).await;
                            Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    for hedge in [false, true] {
        let client: Client<_, buttress_retry::ReplayBody<Empty<Bytes>>> =
            Client::builder(TokioExecutor::new()).build_http();
        let layer = RetryLayer::builder()
            .configure(|c| {
                c.max_attempts = if hedge { 2 } else { 1 };
                c.hedge = hedge.then(HedgeConfig::default);
            })
            .build()
            .unwrap();
        let svc = layer.layer(client);
        let attempts_before = Instant::now();
        let received_before = received.load(Ordering::Relaxed);
        let mut tasks = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for _ in 0..4_000 {
            tick.tick().await;
            let svc = svc.clone();
            let request = Request::get(format!("http://{addr}/"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let ok = svc.oneshot(request).await.is_ok();
                (start.elapsed(), ok)
            }));
        }
        let mut latencies = Vec::new();
        let mut failed = 0;
        for task in tasks {
            let (latency, ok) = task.await.unwrap();
            latencies.push(latency);
            failed += usize::from(!ok);
        }
        latencies.sort();
        let pick = |q: usize| latencies[latencies.len() * q / 100];
        let attempts = received.load(Ordering::Relaxed) - received_before;
        println!(
            "hedge={hedge}: p50 {:?}, p99 {:?}, max {:?}, attempts per request {:.3}, failed {failed}, run {:?}",
            pick(50),
            pick(99),
            latencies.last().unwrap(),
            attempts as f64 / latencies.len() as f64,
            attempts_before.elapsed()
        );
    }
}

/// Hedges are reported: sent, won by a hedge, losers cancelled.
#[tokio::test(start_paused = true)]
async fn hedges_are_reported_to_the_telemetry_sink() {
    use buttress_core::telemetry::{Event, RecordingSink};
    let sink = RecordingSink::new();
    let attempts = Arc::new(AtomicU64::new(0));
    let seen = attempts.clone();
    let dep = tower::service_fn(move |_req: Request<()>| {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        async move {
            let wait = if n == 0 { 1_000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, std::convert::Infallible>(Response::new(()))
        }
    });
    let layer = RetryLayer::builder()
        .configure(|c| {
            c.max_attempts = 2;
            c.hedge = Some(HedgeConfig {
                delay: Some(Duration::from_millis(10)),
                ..HedgeConfig::default()
            });
        })
        .sink(sink.clone())
        .clone_requests()
        .build()
        .unwrap();
    layer
        .layer(dep)
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        sink.count(|_, e| matches!(e, Event::HedgeSent { attempt: 2, .. })),
        1
    );
    assert_eq!(
        sink.count(|_, e| *e
            == Event::HedgeSettled {
                won_by_hedge: true,
                cancelled: 1
            }),
        1
    );
}
