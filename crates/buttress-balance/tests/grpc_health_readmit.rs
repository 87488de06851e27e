//! Readmission by the gRPC health protocol over loopback: three tonic
//! servers with a health service each; the one reporting NOT_SERVING is
//! taken out, and once its health service reports SERVING it is back in
//! rotation and takes calls again (real time, generous bounds).
#![cfg(feature = "grpc")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use buttress_balance::{BalanceLayer, EndpointState, HealthCheckConfig, HealthProbe};
use buttress_core::layer::LayerBuilder;
use support::state;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::Layer;

/// Marks the test's own calls, so the server counts them apart from the
/// health checker's probes (the same RPC).
const CALL_MARK: &str = "x-test-call";

/// Calls in flight at once in each batch.
const BATCH: usize = 8;

/// A tonic server with a health service reporting `status` for the
/// server as a whole; its reporter, to change that; and the count of the
/// test's calls it answered.
async fn health_server(status: ServingStatus) -> (SocketAddr, HealthReporter, Arc<AtomicU64>) {
    let reporter = HealthReporter::new();
    reporter.set_service_status("", status).await;
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let service = HealthServer::with_interceptor(
        HealthService::from_health_reporter(reporter.clone()),
        move |req: tonic::Request<()>| {
            if req.metadata().contains_key(CALL_MARK) {
                counted.fetch_add(1, Relaxed);
            }
            Ok(req)
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, reporter, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_back_to_serving_is_readmitted() {
    let mut backends = Vec::new();
    for status in [
        ServingStatus::Serving,
        ServingStatus::Serving,
        ServingStatus::NotServing,
    ] {
        backends.push(health_server(status).await);
    }
    let addrs: Vec<SocketAddr> = backends.iter().map(|(addr, ..)| *addr).collect();
    let layer = BalanceLayer::builder()
        .configure(|c| {
            c.endpoints = addrs.iter().map(SocketAddr::to_string).collect();
            c.health_check = Some(HealthCheckConfig {
                probe: HealthProbe::Grpc {
                    service: String::new(),
                },
                interval: Duration::from_millis(100),
                timeout: Duration::from_millis(100),
                unhealthy_threshold: 2,
                healthy_threshold: 2,
                max_concurrent: 2,
            });
            // Short, so the readmitted backend's first calls come soon.
            c.slow_start = Some(Duration::from_millis(500));
            c.seed = Some(5);
        })
        .build()
        .unwrap();
    // One tonic `Channel` per endpoint, connected lazily.
    let balance = layer.layer(|addr: &SocketAddr| -> Channel {
        Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    });
    let handle = balance.handle();
    let client = HealthClient::with_interceptor(balance, |mut req: tonic::Request<()>| {
        req.metadata_mut()
            .insert(CALL_MARK, tonic::metadata::MetadataValue::from_static("1"));
        Ok(req)
    });
    // Calls go in batches of concurrent ones, as real traffic does. One
    // at a time, p2c compares bare peak-EWMA estimates, and an endpoint
    // whose estimate holds a stale peak (its lazy connect on its first
    // call: 44 ms seen, above the others' estimates) loses every
    // comparison until that peak decays, about as long as the 10 s decay.
    // In-flight counts in the cost let it win sooner, as in production.
    let batch = || {
        let calls = (0..BATCH).map(|_| {
            let mut client = client.clone();
            async move {
                let answer = client.check(HealthCheckRequest::default()).await.unwrap();
                answer.into_inner().status
            }
        });
        futures_util::future::join_all(calls)
    };

    // The first batch starts the health checks; the NOT_SERVING backend
    // is out after two failed checks.
    let _ = batch().await;
    let bad = addrs[2].to_string();
    let started = Instant::now();
    while state(&handle, &bad) != EndpointState::Unhealthy {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not out in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out_in = started.elapsed();

    // Out: every call is answered SERVING by the others, none reaches it.
    let calls_then = backends[2].2.load(Relaxed);
    for _ in 0..10 {
        for status in batch().await {
            assert_eq!(status, ServingStatus::Serving as i32);
        }
    }
    assert_eq!(backends[2].2.load(Relaxed), calls_then, "no call while out");

    // Its health service turns SERVING: back after two good checks, and
    // taking calls (ramping up through slow start).
    backends[2]
        .1
        .set_service_status("", ServingStatus::Serving)
        .await;
    let flipped = Instant::now();
    while state(&handle, &bad) == EndpointState::Unhealthy {
        assert!(
            flipped.elapsed() < Duration::from_secs(10),
            "not readmitted in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back_in = flipped.elapsed();
    let readmitted_state = support::assert_readmitted(&handle, &bad);
    while backends[2].2.load(Relaxed) == calls_then {
        assert!(
            flipped.elapsed() < Duration::from_secs(10),
            "no call reached it 10 s after it reported SERVING: {:?}",
            handle.endpoints()
        );
        for status in batch().await {
            assert_eq!(status, ServingStatus::Serving as i32);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let called_in = flipped.elapsed();
    println!(
        "grpc_health_readmit: out {out_in:?} after the first batch; back {back_in:?} \
         ({readmitted_state:?}) and called {called_in:?} after SERVING"
    );
    assert!(back_in < Duration::from_secs(2), "back in {back_in:?}");
}
