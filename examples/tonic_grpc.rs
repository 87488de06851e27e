//! A tonic server behind the server stack, and a tonic client over a
//! `Channel` behind a client stack — with tonic-health's service, so no
//! protoc is needed.
//!
//! `cargo run --example tonic_grpc --all-features`
//!
//! The client stack judges answers by `grpc-status`
//! (`HttpOrGrpcClassifier`) and retries any call (gRPC calls are all
//! POSTs; a health check is safe to repeat). Its retry replays request
//! bodies from a buffer and hands the channel tonic's own body type
//! (`replay_into`), so the generated client sits on the stack with no
//! adapter; the stack's refusals reach it as `tonic::Status` (an open
//! breaker is UNAVAILABLE with `grpc-retry-pushback-ms`).

use std::net::SocketAddr;
use std::time::Duration;

use buttress::core::classify::HttpOrGrpcClassifier;
use buttress::retry::{Idempotency, RetryConfig};
use buttress::stack::{ClientStack, ServerStack};
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer;

/// Starts the health service behind the server stack on a free port.
pub(crate) async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let stack = ServerStack::new("grpc-health")
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a valid server stack");
    // tonic's routes as a tower service, served with a header-read
    // timeout and a connection cap (tonic's own server has neither).
    let app = stack.layer(Routes::new(health).prepare());
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.expect("server") });
    addr
}

/// Asks the server at `addr` for its health through a client stack.
pub(crate) async fn check(addr: SocketAddr) -> Result<i32, buttress::BoxError> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await?;
    let retry = RetryConfig {
        idempotency: Idempotency::Ignored,
        ..RetryConfig::default()
    };
    let stack = ClientStack::new("grpc-health")
        .classifier(HttpOrGrpcClassifier::default())
        .replay_into::<tonic::body::Body>()
        .retry(retry)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a valid client stack");
    let mut client = HealthClient::new(stack.layer(channel));
    let answer = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(answer.into_inner().status)
}

#[allow(dead_code)] // tests/examples_clients.rs includes this file
#[tokio::main]
async fn main() {
    let addr = serve().await;
    match check(addr).await {
        Ok(status) => println!("health of {addr}: {status} (1 = SERVING)"),
        Err(error) => println!("health check failed: {error}"),
    }
}
