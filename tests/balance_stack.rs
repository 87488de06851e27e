//! A client stack balanced over three replicas, the way the README tells
//! users to: `[clients.<name>.balance]` in a TOML `ServiceConfig`, the
//! stack built with `build_client`, applied with `balanced` over
//! hyper-util's client (one pool, each endpoint's requests pointed at its
//! address by `to_endpoint::per_endpoint`), against three axum servers on
//! 127.0.0.1. Real sockets, so the bounds are generous; the balancer's
//! own tests hold the properties on paused time.

#![cfg(all(
    feature = "balance",
    feature = "serde",
    feature = "stack",
    feature = "axum"
))]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use buttress::balance::to_endpoint;
use buttress::config::ServiceConfig;
use buttress::retry::ReplayBody;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt;

/// A replica that counts what it receives and answers 200, or 500 while
/// `failing` is set.
struct Replica {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
}

async fn replica() -> Replica {
    let received = Arc::new(AtomicU64::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (seen, broken) = (received.clone(), failing.clone());
    let app = Router::new().route(
        "/items",
        get(move || {
            let (seen, broken) = (seen.clone(), broken.clone());
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                if broken.load(Ordering::SeqCst) {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let addr = support::serve_app(app).await;
    Replica {
        addr,
        received,
        failing,
    }
}

fn service_toml(replicas: &[Replica]) -> String {
    let endpoints: Vec<String> = replicas.iter().map(|r| format!("\"{}\"", r.addr)).collect();
    format!(
        r#"
[clients.inventory]

[clients.inventory.retry]
max_attempts = 3
backoff = {{ base = "1ms", max = "5ms", jitter = "none" }}

[clients.inventory.balance]
endpoints = [{}]
slow_start = "1s"
seed = 7

[clients.inventory.balance.ejection]
consecutive_failures = 5
base_time = "30s"
"#,
        endpoints.join(", ")
    )
}

fn request() -> http::Request<Empty<Bytes>> {
    http::Request::get("/items").body(Empty::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_answering_500s_is_ejected_and_the_client_keeps_succeeding() {
    let replicas = [replica().await, replica().await, replica().await];
    replicas[0].failing.store(true, Ordering::SeqCst);
    let config = ServiceConfig::from_toml(&service_toml(&replicas)).unwrap();
    let stack = config.build_client("inventory").unwrap();
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let client = stack
        .balanced(to_endpoint::per_endpoint(transport))
        .unwrap();

    // Until the broken replica is ejected.
    let started = Instant::now();
    let (mut sent, mut succeeded) = (0u64, 0u64);
    while stack.balance().unwrap().ejected() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the replica answering 500s was never ejected: {:?}",
            stack.balance().unwrap().endpoints()
        );
        let answer = client.clone().oneshot(request()).await;
        sent += 1;
        succeeded += u64::from(answer.is_ok_and(|a| a.status() == 200));
    }
    let ejected_after = started.elapsed();
    let before = replicas[0].received.load(Ordering::SeqCst);

    // Then 600 requests.
    let total_before: u64 = replicas
        .iter()
        .map(|r| r.received.load(Ordering::SeqCst))
        .sum();
    // Eight callers at once, 75 requests each, as a service's handlers
    // would call it.
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut ok = 0u64;
                for _ in 0..75 {
                    let answer = client.clone().oneshot(request()).await;
                    ok += u64::from(answer.is_ok_and(|a| a.status() == 200));
                }
                ok
            })
        })
        .collect();
    let (after_sent, mut after_ok) = (600u64, 0u64);
    for caller in callers {
        after_ok += caller.await.unwrap();
    }
    let total_after: u64 = replicas
        .iter()
        .map(|r| r.received.load(Ordering::SeqCst))
        .sum();
    let broken_share = (replicas[0].received.load(Ordering::SeqCst) - before) as f64
        / (total_after - total_before) as f64;
    eprintln!(
        "ejected after {ejected_after:?} ({sent} requests, {succeeded} succeeded); then \
         {after_ok}/{after_sent} succeeded, broken replica's share {:.2} %; {:?}",
        100.0 * broken_share,
        stack.balance().unwrap().endpoints()
    );
    assert!(
        ejected_after < Duration::from_secs(1),
        "ejected within 1 s: {ejected_after:?}"
    );
    // Before the ejection a request fails only if all three attempts
    // drew the broken replica; over the whole run the bound still holds.
    let overall = (succeeded + after_ok) as f64 / (sent + after_sent) as f64;
    assert!(
        overall >= 0.995,
        "≥ 99.5 % succeeded over the whole run: {overall}"
    );
    assert!(broken_share <= 0.01, "≤ 1 % after ejection: {broken_share}");
    assert!(
        after_ok as f64 >= 0.995 * after_sent as f64,
        "≥ 99.5 % succeeded: {after_ok}/{after_sent}"
    );
    let healthy: Vec<u64> = replicas[1..]
        .iter()
        .map(|r| r.received.load(Ordering::SeqCst))
        .collect();
    assert!(
        healthy.iter().all(|&n| n > 100),
        "both healthy replicas share the load: {healthy:?}"
    );
}

#[test]
fn a_stack_without_a_balance_section_says_so() {
    let config = ServiceConfig::from_toml("[clients.inventory]\n").unwrap();
    let stack = config.build_client("inventory").unwrap();
    let transport = tower::service_fn(|_req: http::Request<Empty<Bytes>>| async {
        Ok::<_, std::io::Error>(http::Response::new(Empty::<Bytes>::new()))
    });
    let Err(err) = stack.balanced(move |_: &SocketAddr| transport) else {
        panic!("a stack without a balance section cannot balance");
    };
    assert_eq!(err.field(), "balance");
}

#[test]
fn a_mistake_in_the_balance_section_names_its_path() {
    let err = ServiceConfig::from_toml(
        "[clients.inventory.balance]\nendpoints = [\"127.0.0.1:1\"]\n\
         [clients.inventory.balance.ejection]\nmax_ejection_percent = 120\n",
    )
    .unwrap_err();
    assert_eq!(
        err.field(),
        "clients.inventory.balance.ejection.max_ejection_percent"
    );
    let err =
        ServiceConfig::from_toml("[clients.inventory.balance]\nendpionts = []\n").unwrap_err();
    assert!(
        err.to_string().contains("clients.inventory.balance"),
        "an unknown field names its section: {err}"
    );
}

#[test]
fn the_example_services_balance_section_loads_when_uncommented() {
    let uncommented = support::example::with_section_uncommented("clients.inventory.balance");
    let config = ServiceConfig::from_toml(&uncommented).unwrap();
    let balance = config.clients["inventory"]
        .balance
        .clone()
        .expect("the balance section, uncommented");
    assert_eq!(balance.endpoints.len(), 3);
    assert_eq!(balance.ejection.max_ejection_percent, 50.0);
    assert!(balance.health_check.is_some());
}

/// A tonic server with only a health service, reporting `serving`.
#[cfg(feature = "tonic")]
async fn grpc_replica(serving: bool) -> SocketAddr {
    use tonic_health::ServingStatus;
    let (reporter, service) = tonic_health::server::health_reporter();
    let status = match serving {
        true => ServingStatus::Serving,
        false => ServingStatus::NotServing,
    };
    reporter.set_service_status("", status).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _reporter = reporter; // keeps the status
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_the_health_check_ejects_the_replica_reporting_not_serving() {
    use buttress::balance::EndpointState;
    use tonic::transport::{Channel, Endpoint};
    use tonic_health::ServingStatus;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let addrs = [
        grpc_replica(true).await,
        grpc_replica(true).await,
        grpc_replica(false).await,
    ];
    let endpoints: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    let config = ServiceConfig::from_toml(&format!(
        r#"
[clients.health.balance]
endpoints = [{}]
health_check = {{ probe = {{ kind = "grpc" }}, interval = "100ms", timeout = "100ms" }}
"#,
        endpoints.join(", ")
    ))
    .unwrap();
    let stack = config
        .client_stack("health")
        .unwrap()
        .replay_into::<tonic::body::Body>()
        .build()
        .unwrap();
    // One tonic `Channel` per replica.
    let balanced = stack
        .balanced(|addr: &SocketAddr| -> Channel {
            Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy()
        })
        .unwrap();
    let mut client = HealthClient::new(balanced);

    // The first call starts the checks.
    let _ = client.check(HealthCheckRequest::default()).await;
    let started = Instant::now();
    let bad = addrs[2].to_string();
    loop {
        let unhealthy: Vec<String> = stack
            .balance()
            .unwrap()
            .endpoints()
            .into_iter()
            .filter(|ep| ep.state == EndpointState::Unhealthy)
            .map(|ep| ep.endpoint)
            .collect();
        if !unhealthy.is_empty() {
            assert_eq!(
                unhealthy,
                std::slice::from_ref(&bad),
                "only the NOT_SERVING replica"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the NOT_SERVING replica was not taken out in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "grpc: NOT_SERVING replica out after {:?}",
        started.elapsed()
    );
    for _ in 0..50 {
        let answer = client.check(HealthCheckRequest::default()).await.unwrap();
        assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    }
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_over_three_replicas_skips_the_broken_one() {
    let replicas = [replica().await, replica().await, replica().await];
    replicas[1].failing.store(true, Ordering::SeqCst);
    let config = ServiceConfig::from_toml(&service_toml(&replicas)).unwrap();
    let http = reqwest::Client::new();
    let client = config
        .client_stack("inventory")
        .unwrap()
        .over_reqwest_balanced(http.clone())
        .unwrap();
    let mut ok = 0;
    for _ in 0..300 {
        // The host is a name no resolver knows: the balancer's choice of
        // replica replaces it.
        let answer = client.send(http.get("http://inventory/items")).await;
        ok += u32::from(answer.is_ok_and(|a| a.status() == 200));
    }
    let received: Vec<u64> = replicas
        .iter()
        .map(|r| r.received.load(Ordering::SeqCst))
        .collect();
    eprintln!("reqwest: {ok}/300 succeeded; replicas received {received:?}");
    assert!(ok >= 299, "≥ 99.5 % succeeded: {ok}/300");
    assert!(
        received[1] <= 10,
        "the broken replica was ejected: {received:?}"
    );
    assert!(received[0] > 0 && received[2] > 0, "{received:?}");
}
