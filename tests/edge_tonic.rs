//! The edge layer under a real tonic 0.14 server (tonic-health's service,
//! which needs no protoc), asked by a real tonic client: rejections arrive
//! as their gRPC codes, never INTERNAL or UNKNOWN.

#![cfg(feature = "tonic")]

mod support;

use std::time::Duration;

use buttress::edge::EdgeLayer;
use support::{REJECT_HEADER, RefuseLayer};
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(EdgeLayer::new())
                    .layer(RefuseLayer),
            )
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn check(
    client: &mut HealthClient<tonic::transport::Channel>,
    reject: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(reason) = reject {
        request
            .metadata_mut()
            .insert(REJECT_HEADER, reason.parse().unwrap());
    }
    client.check(request).await.map(drop)
}

#[tokio::test]
async fn rejections_arrive_as_their_grpc_codes() {
    let addr = serve().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);

    check(&mut client, None)
        .await
        .expect("the health service answers");

    let open = check(&mut client, Some("circuit_open")).await.unwrap_err();
    assert_eq!(open.code(), Code::Unavailable, "{open:?}");
    assert_eq!(
        open.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "3000"
    );

    let shed = check(&mut client, Some("shed")).await.unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");

    let limited = check(&mut client, Some("rate_limited")).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);

    let late = check(&mut client, Some("deadline_exceeded"))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded);

    // The channel is still good after the rejections.
    check(&mut client, None).await.expect("still serving");
}

#[test]
fn handler_rejections_convert_to_the_same_status() {
    let status: tonic::Status = buttress::Rejected::new(buttress::Reason::Throttled)
        .with_retry_after(Duration::from_millis(250))
        .into();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "250"
    );
}
