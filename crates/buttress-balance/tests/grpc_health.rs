//! Active gRPC health checks over loopback: three tonic servers with a
//! health service each, one reporting NOT_SERVING (real time).
#![cfg(feature = "grpc")]

use std::net::SocketAddr;
use std::time::Duration;

use buttress_balance::{BalanceLayer, EndpointState, HealthCheckConfig, HealthProbe};
use buttress_core::layer::LayerBuilder;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer;

async fn health_server(serving: bool) -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Keeps the reporter, and so the status, alive.
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_ejects_the_backend_reporting_not_serving() {
    let addrs = [
        health_server(true).await,
        health_server(true).await,
        health_server(false).await,
    ];
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
        })
        .build()
        .unwrap();
    // One tonic `Channel` per endpoint, connected lazily.
    let balance = layer.layer(|addr: &SocketAddr| -> Channel {
        Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    });
    let mut client = HealthClient::new(balance.clone());

    // The first call starts the health checks; wait for two rounds.
    let _ = client.check(HealthCheckRequest::default()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let bad = addrs[2].to_string();
    loop {
        let unhealthy: Vec<_> = balance
            .handle()
            .endpoints()
            .into_iter()
            .filter(|ep| ep.state == EndpointState::Unhealthy)
            .map(|ep| ep.endpoint)
            .collect();
        if !unhealthy.is_empty() {
            assert_eq!(unhealthy, std::slice::from_ref(&bad));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ejected in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every call now reaches a serving backend.
    for _ in 0..50 {
        let answer = client.check(HealthCheckRequest::default()).await.unwrap();
        assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    }
}
