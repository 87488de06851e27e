//! DNS discovery of the config's `host:port` entries (`ConfigEndpoints`,
//! what `BalanceLayer` uses as a `tower::Layer`), on loopback names only:
//! `localhost` (from /etc/hosts) resolves to the test server and calls
//! reach it; a name that cannot resolve yields no endpoint — calls are
//! refused at once with `NoEndpoint`, not hung — and, re-resolved on an
//! interval, never disturbs the endpoints of the names that do resolve.
//!
//! The failing name is `<64 × a>.invalid`: `.invalid` never resolves
//! (RFC 2606), and a label over 63 bytes is refused by the resolver
//! library before any query is sent (RFC 1035), so no test here contacts
//! a name server or waits on its timeout. What this file cannot show is a
//! name that resolved and then stops: no loopback name can be made to
//! fail without editing /etc/hosts, so "a failed lookup keeps that name's
//! last addresses" is covered only as "a failed lookup removes nothing".
//!
//! Real time (real sockets and the resolver's blocking thread), with
//! generous bounds.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use buttress_balance::{BalanceConfig, BalanceHandle, BalanceLayer, discover};
use buttress_core::layer::LayerBuilder;
use buttress_core::{BoxError, Reason, Rejected};
use futures_util::StreamExt;
use http_body_util::Empty;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// Never resolves, and is refused without a query (see the file's doc).
fn unresolvable(port: u16) -> String {
    format!("{}.invalid:{port}", "a".repeat(64))
}

/// An axum server answering 200 on every address `localhost` resolves to
/// (127.0.0.1 and/or ::1), all on one port; the addresses, as the
/// balancer should list them, and the calls the server took.
async fn localhost_server() -> (u16, BTreeSet<String>, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let calls = counted.clone();
            async move {
                calls.fetch_add(1, Relaxed);
                http::StatusCode::OK
            }
        }),
    );
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(("localhost", port))
        .await
        .expect("localhost resolves")
        .collect();
    assert!(
        resolved.iter().all(|addr| addr.ip().is_loopback()),
        "localhost must be loopback here: {resolved:?}"
    );
    let mut listeners = vec![first];
    for addr in &resolved {
        if *addr != listeners[0].local_addr().unwrap() {
            listeners.push(tokio::net::TcpListener::bind(addr).await.unwrap());
        }
    }
    for listener in listeners {
        let app = app.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    let expected = resolved.iter().map(SocketAddr::to_string).collect();
    (port, expected, calls)
}

use support::HttpReq as Req;

/// A balancer over `config`'s endpoints, each a hyper-util client
/// pointed at its address.
fn balancer(
    config: BalanceConfig,
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
        .with_config(config)
        .name("dns")
        .build()
        .unwrap();
    let http = support::http_client();
    let client = layer.layer(move |addr: &SocketAddr| support::http_endpoint(http.clone(), *addr));
    let handle = client.handle();
    (client, handle)
}

fn listed(handle: &BalanceHandle) -> BTreeSet<String> {
    handle
        .endpoints()
        .into_iter()
        .map(|ep| ep.endpoint)
        .collect()
}

/// Calls until one succeeds: the lookup runs in the background, and until
/// it lands each call is refused at once with `NoEndpoint` (the balancer
/// never waits for discovery).
async fn first_success<S>(client: &S) -> Duration
where
    S: tower::Service<Req, Response = http::Response<hyper::body::Incoming>, Error = BoxError>
        + Clone,
{
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "localhost not resolved in 5 s"
        );
        match client
            .clone()
            .oneshot(http::Request::new(Empty::new()))
            .await
        {
            Ok(res) => {
                assert!(res.status().is_success());
                return started.elapsed();
            }
            Err(err) => {
                let rejected = Rejected::find(&*err).expect("a typed refusal");
                assert_eq!(rejected.reason(), Reason::NoEndpoint);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_resolves_to_the_loopback_server_and_calls_reach_it() {
    let (port, expected, calls) = localhost_server().await;
    let (client, handle) = balancer(BalanceConfig {
        endpoints: vec![format!("localhost:{port}")],
        ..BalanceConfig::default()
    });
    let resolved_in = first_success(&client).await;
    assert_eq!(listed(&handle), expected);
    for _ in 0..20 {
        let res = client
            .clone()
            .oneshot(http::Request::new(Empty::new()))
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
    assert_eq!(calls.load(Relaxed), 21);
    println!("dns: localhost:{port} -> {expected:?}, first call through in {resolved_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_yields_no_endpoint_and_calls_are_refused_at_once() {
    let config = BalanceConfig {
        endpoints: vec![unresolvable(80)],
        ..BalanceConfig::default()
    };
    // The stream itself: without an interval it resolves once and ends;
    // a failed lookup inserts nothing. It must end well before the 5 s
    // lookup timeout: the resolver refuses the name without the network.
    let started = Instant::now();
    let mut stream =
        discover::ConfigEndpoints::new(&config, |_: &SocketAddr| tower::service_fn(noop));
    let first = tokio::time::timeout(Duration::from_secs(4), stream.next())
        .await
        .expect("resolution ended before the lookup timeout");
    assert!(first.is_none(), "no endpoint from an unresolvable name");
    let failed_in = started.elapsed();

    // Through the balancer: no endpoint, so every call is refused at
    // once with a typed `NoEndpoint`, never sent, and nothing panics.
    let (client, handle) = balancer(config);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        let call = Instant::now();
        let err = client
            .clone()
            .oneshot(http::Request::new(Empty::new()))
            .await
            .unwrap_err();
        assert!(call.elapsed() < Duration::from_secs(1), "refused, not hung");
        let rejected = Rejected::find(&*err).expect("a typed refusal");
        assert_eq!(rejected.reason(), Reason::NoEndpoint);
        assert!(!rejected.was_sent());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(listed(&handle).is_empty());
    println!("dns: unresolvable name failed in {failed_in:?}, no endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_resolution_with_a_failing_name_keeps_the_endpoints_of_the_others() {
    let (port, expected, calls) = localhost_server().await;
    let config = BalanceConfig {
        endpoints: vec![format!("localhost:{port}"), unresolvable(port)],
        // The shortest allowed: about ten re-resolutions in the run.
        discovery_interval: Some(Duration::from_millis(100)),
        ..BalanceConfig::default()
    };

    // The stream: localhost's addresses inserted once, then nothing — no
    // removal — over the re-resolutions that follow, each failing for
    // the `.invalid` name and giving localhost the same answer.
    let mut stream =
        discover::ConfigEndpoints::new(&config, |_: &SocketAddr| tower::service_fn(noop));
    let mut inserted = BTreeSet::new();
    while inserted.len() < expected.len() {
        let change = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("localhost resolved in 5 s")
            .expect("the stream goes on with an interval")
            .unwrap();
        match change {
            discover::Change::Insert(addr, _) => assert!(inserted.insert(addr.to_string())),
            discover::Change::Remove(addr) => panic!("{addr} removed"),
        }
    }
    assert_eq!(inserted, expected);
    let quiet = tokio::time::timeout(Duration::from_millis(1_000), stream.next()).await;
    assert!(quiet.is_err(), "a change after re-resolutions: {quiet:?}");

    // Through the balancer: calls keep succeeding, and the table keeps
    // localhost's addresses, across the failing re-resolutions.
    let (client, handle) = balancer(config);
    first_success(&client).await;
    let started = Instant::now();
    let mut n = 1;
    while started.elapsed() < Duration::from_millis(1_000) {
        let res = client
            .clone()
            .oneshot(http::Request::new(Empty::new()))
            .await
            .unwrap();
        assert!(res.status().is_success());
        assert_eq!(listed(&handle), expected);
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(calls.load(Relaxed), n);
    println!("dns: {n} calls through localhost over ~10 failing re-resolutions of the other name");
}

async fn noop(_req: Req) -> Result<http::Response<()>, std::convert::Infallible> {
    Ok(http::Response::new(()))
}
