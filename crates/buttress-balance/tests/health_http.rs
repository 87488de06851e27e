//! Active HTTP health checks (`HealthProbe::Http`) against real axum
//! servers on 127.0.0.1: a backend whose `GET /healthz` turns 503 is taken
//! out of rotation and, once it answers 200 again, readmitted; a backend
//! whose health endpoint hangs is taken out by the per-check timeout,
//! without the checks ever holding more than `max_concurrent` probes at
//! once.
//!
//! Real time with generous bounds (a paused clock would auto-advance
//! while tasks wait on sockets); every wait is a bounded loop.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_balance::{
    BalanceHandle, BalanceLayer, EndpointState, HealthCheckConfig, HealthProbe,
};
use buttress_core::BoxError;
use buttress_core::layer::LayerBuilder;
use http::StatusCode;
use http_body_util::Empty;
use support::state;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// What a backend's `GET /healthz` does.
const HEALTHY: u8 = 0;
const DOWN: u8 = 1;
const HANG: u8 = 2;

/// One backend: its health answer, the calls `GET /` took, and the health
/// probes it saw.
#[derive(Debug, Default)]
struct Backend {
    health: AtomicU8,
    calls: AtomicU64,
    probes: AtomicU64,
}

impl Backend {
    fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }
    fn probes(&self) -> u64 {
        self.probes.load(Relaxed)
    }
}

/// Health probes in flight across every backend, the most seen at once,
/// and when each hung probe arrived: the server side's view of the
/// checker's concurrency.
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicU64,
    peak: AtomicU64,
    hung_arrivals: Mutex<Vec<std::time::Instant>>,
}

/// One probe being answered; dropped when the handler ends, including
/// when hyper cancels it because the checker closed the connection (a
/// hung probe ends only that way).
struct Held(Arc<Gauge>);

impl Held {
    fn enter(gauge: &Arc<Gauge>) -> Self {
        let now = gauge.now.fetch_add(1, SeqCst) + 1;
        gauge.peak.fetch_max(now, SeqCst);
        Held(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

/// An axum backend on an ephemeral 127.0.0.1 port: `GET /` answers 200,
/// `GET /healthz` what `backend.health` says.
async fn serve(backend: Arc<Backend>, gauge: Arc<Gauge>) -> SocketAddr {
    let counted = backend.clone();
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || {
                let backend = counted.clone();
                async move {
                    backend.calls.fetch_add(1, Relaxed);
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/healthz",
            axum::routing::get(move || {
                let (backend, gauge) = (backend.clone(), gauge.clone());
                async move {
                    backend.probes.fetch_add(1, Relaxed);
                    let _held = Held::enter(&gauge);
                    match backend.health.load(Relaxed) {
                        HEALTHY => StatusCode::OK,
                        DOWN => StatusCode::SERVICE_UNAVAILABLE,
                        _ => {
                            gauge
                                .hung_arrivals
                                .lock()
                                .unwrap()
                                .push(std::time::Instant::now());
                            std::future::pending().await
                        }
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

use support::HttpReq as Req;

/// A balancer over `addrs` with HTTP health checks on `/healthz`; one
/// hyper-util client (one pool) for all endpoints, each pointing its
/// requests at its own address.
fn balancer(
    addrs: &[SocketAddr],
    health: HealthCheckConfig,
    slow_start: Option<Duration>,
) -> (
    impl tower::Service<
        Req,
        Response = http::Response<hyper::body::Incoming>,
        Error = BoxError,
        Future = impl Send,
    > + Clone
    + Send
    + 'static,
    BalanceHandle,
) {
    let layer = BalanceLayer::builder()
        .configure(|c| {
            c.endpoints = addrs.iter().map(SocketAddr::to_string).collect();
            c.health_check = Some(health);
            c.slow_start = slow_start;
            c.seed = Some(11);
        })
        .name("health-http")
        .build()
        .unwrap();
    let http = support::http_client();
    let client = layer.layer(move |addr: &SocketAddr| support::http_endpoint(http.clone(), *addr));
    let handle = client.handle();
    (client, handle)
}

/// Calls in flight at once in each batch.
const BATCH: usize = 8;

/// `BATCH` concurrent `GET /` through the balancer: whether all answered
/// 2xx. Concurrent, as real traffic is: one at a time, p2c compares bare
/// peak-EWMA estimates, and an endpoint holding a stale peak (a lazy
/// connect on its first call) can lose every comparison until the peak
/// decays (10 s); in-flight counts in the cost let it win sooner.
async fn batch<S>(client: &S) -> bool
where
    S: tower::Service<Req, Response = http::Response<hyper::body::Incoming>, Error = BoxError>
        + Clone,
{
    let calls = (0..BATCH).map(|_| client.clone().oneshot(http::Request::new(Empty::new())));
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .all(|res| res.is_ok_and(|res| res.status().is_success()))
}

fn http_check(interval_ms: u64, timeout_ms: u64, max_concurrent: usize) -> HealthCheckConfig {
    HealthCheckConfig {
        probe: HealthProbe::Http {
            path: "/healthz".to_owned(),
        },
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        unhealthy_threshold: 2,
        healthy_threshold: 2,
        max_concurrent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_failing_its_http_health_check_is_taken_out_and_readmitted() {
    let gauge = Arc::new(Gauge::default());
    let backends: Vec<Arc<Backend>> = (0..3).map(|_| Arc::new(Backend::default())).collect();
    let mut addrs = Vec::new();
    for backend in &backends {
        addrs.push(serve(backend.clone(), gauge.clone()).await);
    }
    let bad = addrs[2].to_string();
    // A short slow-start window, so the readmission's ramp is exercised
    // yet its first calls come within the bound.
    let (client, handle) = balancer(
        &addrs,
        http_check(100, 100, 2),
        Some(Duration::from_millis(500)),
    );

    // All three take calls (the first batch also starts the checks).
    for _ in 0..20 {
        assert!(batch(&client).await);
    }
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    assert!(calls.iter().all(|&n| n > 0), "calls {calls:?}");

    // Its health endpoint turns 503: out after two failed checks in a row,
    // about 2 rounds of ~100 ms. Calls keep flowing meanwhile.
    backends[2].health.store(DOWN, Relaxed);
    let flipped = Instant::now();
    while state(&handle, &bad) != EndpointState::Unhealthy {
        assert!(
            flipped.elapsed() < Duration::from_secs(10),
            "not taken out in 10 s"
        );
        assert!(batch(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out_in = flipped.elapsed();
    for addr in &addrs[..2] {
        assert_ne!(
            state(&handle, &addr.to_string()),
            EndpointState::Unhealthy,
            "only the failing one is out"
        );
    }

    // Out of rotation: not one call reaches it, all succeed elsewhere,
    // and the checks go on asking it.
    let (calls_then, probes_then) = (backends[2].calls(), backends[2].probes());
    for _ in 0..25 {
        assert!(batch(&client).await);
    }
    assert_eq!(backends[2].calls(), calls_then, "no call while unhealthy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while backends[2].probes() <= probes_then {
        assert!(Instant::now() < deadline, "no longer checked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state(&handle, &bad), EndpointState::Unhealthy);

    // It answers 200 again: back after two good checks in a row, ramping
    // up through slow start, and taking calls again.
    backends[2].health.store(HEALTHY, Relaxed);
    let flipped = Instant::now();
    while state(&handle, &bad) == EndpointState::Unhealthy {
        assert!(
            flipped.elapsed() < Duration::from_secs(10),
            "not readmitted in 10 s"
        );
        assert!(batch(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let back_in = flipped.elapsed();
    let readmitted_state = support::assert_readmitted(&handle, &bad);
    while backends[2].calls() == calls_then {
        assert!(
            flipped.elapsed() < Duration::from_secs(10),
            "no call reached it 10 s after it answered 200 again"
        );
        assert!(batch(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let called_in = flipped.elapsed();
    println!(
        "health_http: out {out_in:?} after its check turned 503; back {back_in:?} \
         ({readmitted_state:?}) and called {called_in:?} after it turned 200; calls {:?}",
        backends.iter().map(|b| b.calls()).collect::<Vec<_>>()
    );
    assert!(out_in < Duration::from_secs(2), "out in {out_in:?}");
    assert!(back_in < Duration::from_secs(2), "back in {back_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_health_endpoints_are_cut_by_the_timeout_and_probes_stay_bounded() {
    const MAX_CONCURRENT: usize = 2;
    const TIMEOUT: Duration = Duration::from_millis(200);
    let gauge = Arc::new(Gauge::default());
    // One healthy backend and three whose health endpoint never answers:
    // more hung probes than `max_concurrent`, so that a checker without
    // the bound (or one leaking timed-out probes across rounds) would
    // show more in flight.
    let backends: Vec<Arc<Backend>> = (0..4).map(|_| Arc::new(Backend::default())).collect();
    for backend in &backends[1..] {
        backend.health.store(HANG, Relaxed);
    }
    let mut addrs = Vec::new();
    for backend in &backends {
        addrs.push(serve(backend.clone(), gauge.clone()).await);
    }
    let (client, handle) = balancer(
        &addrs,
        http_check(250, TIMEOUT.as_millis() as u64, MAX_CONCURRENT),
        None,
    );

    let started = Instant::now();
    assert!(batch(&client).await);
    let hung: Vec<String> = addrs[1..].iter().map(SocketAddr::to_string).collect();
    while !hung
        .iter()
        .all(|addr| state(&handle, addr) == EndpointState::Unhealthy)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "hung backends not taken out in 10 s: {:?}",
            handle.endpoints()
        );
        assert!(batch(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out_in = started.elapsed();
    assert_eq!(state(&handle, &addrs[0].to_string()), EndpointState::Active);

    // A few more rounds: timed-out probes must not pile up, and every
    // call goes to the healthy backend.
    let calls_then: Vec<u64> = backends[1..].iter().map(|b| b.calls()).collect();
    let more = Instant::now();
    while more.elapsed() < Duration::from_millis(1_500) {
        assert!(batch(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let calls_now: Vec<u64> = backends[1..].iter().map(|b| b.calls()).collect();
    assert_eq!(calls_now, calls_then, "no call to a hung backend once out");
    let probes: Vec<u64> = backends.iter().map(|b| b.probes()).collect();
    let peak = gauge.peak.load(SeqCst);
    // Each round waits for its slowest check (200 ms, cut): rounds go on
    // regardless of the hang, each backend asked once per round.
    assert!(
        probes.iter().all(|&n| n >= 3),
        "rounds stalled: probes {probes:?}"
    );
    // The bound is reached (two hung probes overlap), so the checks do
    // run concurrently...
    assert!(
        peak >= MAX_CONCURRENT as u64,
        "peak probes in flight {peak}"
    );
    // ...and never beyond it. A check starts only when one of the
    // `max_concurrent` in flight ends, and a hung one ends only at its
    // timeout, so any `max_concurrent + 1` hung probes start at least one
    // timeout apart on the checker's side. The server's view lags: it
    // notices a cut probe only when it reads the closed connection, so a
    // peak taken there can briefly count one probe too many; arrivals
    // lag only by a connect, and half a timeout covers that. A checker
    // without the bound starts a round's three hung probes within a
    // millisecond.
    let mut arrivals = gauge.hung_arrivals.lock().unwrap().clone();
    arrivals.sort();
    for window in arrivals.windows(MAX_CONCURRENT + 1) {
        let span = window[MAX_CONCURRENT] - window[0];
        assert!(
            span >= TIMEOUT / 2,
            "{} hung probes arrived within {span:?} (timeout {TIMEOUT:?}, max_concurrent {MAX_CONCURRENT})",
            MAX_CONCURRENT + 1
        );
    }

    // Dropping the balancer ends the checks; every probe connection was
    // closed by its timeout, none is left hanging on the servers.
    drop(client);
    drop(handle);
    let dropped = Instant::now();
    while gauge.now.load(SeqCst) > 0 {
        assert!(
            dropped.elapsed() < Duration::from_secs(5),
            "probes left hanging"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "health_http: 3 hung health endpoints out {out_in:?} after the first batch \
         (timeout 200 ms, 2 failures); probes {probes:?}, peak in flight {peak}"
    );
}
