//! Client-side injection over reqwest and over a tonic client, on real
//! sockets (127.0.0.1).
#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress_context::trace::parse_traceparent;
use buttress_context::{ClientContextLayer, ServerContextLayer};
use buttress_core::context::{CorrelationId, TraceContext};
use buttress_core::{Criticality, Reason, Rejected, RequestContext, TrustPolicy};
use http::HeaderMap;
use tokio::time::Instant;
use tower::{Layer, ServiceBuilder, ServiceExt};

fn context(deadline: Duration) -> RequestContext {
    RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"abc-123").unwrap())
        .with_trace(TraceContext::new([0x4b; 16], [0x11; 8], 0x01))
        .with_criticality(Criticality::Sheddable)
        .with_deadline(Instant::now() + deadline)
}

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

#[tokio::test]
async fn reqwest_requests_carry_the_context() {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| async move {
            store.lock().unwrap().push(headers);
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let client = ClientContextLayer::new().layer(http.clone());
    let request = http.get(format!("http://{addr}/")).build().unwrap();
    let response = context(Duration::from_secs(2))
        .scope(client.clone().oneshot(request))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let headers = seen.lock().unwrap().pop().unwrap();
    assert_eq!(headers["x-request-id"], "abc-123");
    assert_eq!(headers["x-criticality"], "SHEDDABLE");
    let timeout: u64 = headers["x-request-timeout-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(timeout < 2_000 && timeout > 500, "{timeout}");
    let parent = parse_traceparent(headers["traceparent"].as_bytes()).unwrap();
    assert_eq!(parent.trace_id(), [0x4b; 16]);

    // A spent deadline is refused before anything is sent.
    let request = http.get(format!("http://{addr}/")).build().unwrap();
    let err = context(Duration::ZERO)
        .scope(client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(
        Rejected::find(&*err).unwrap().reason(),
        Reason::DeadlineExceeded
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tonic_calls_carry_the_context_as_grpc_timeout() {
    use tonic::transport::server::TcpIncoming;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let seen: Seen = Arc::default();
    let contexts = Arc::new(Mutex::new(Vec::new()));
    let (store, ctx_store) = (seen.clone(), contexts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(tower::util::MapRequestLayer::new(
                move |req: http::Request<tonic::body::Body>| {
                    store.lock().unwrap().push(req.headers().clone());
                    req
                },
            ))
            .layer(ServerContextLayer::internal(TrustPolicy::always()))
            .layer(tower::util::MapRequestLayer::new(
                move |req: http::Request<tonic::body::Body>| {
                    ctx_store
                        .lock()
                        .unwrap()
                        .push(RequestContext::current().unwrap());
                    req
                },
            ))
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = ServiceBuilder::new()
        .layer(ClientContextLayer::new())
        .service(channel);
    let mut health = HealthClient::new(channel);
    let answer = context(Duration::from_secs(3))
        .scope(health.check(HealthCheckRequest {
            service: String::new(),
        }))
        .await
        .unwrap();
    assert_eq!(answer.get_ref().status, 1); // SERVING

    let headers = seen.lock().unwrap().pop().unwrap();
    assert_eq!(headers["x-request-id"], "abc-123");
    assert_eq!(headers["x-criticality"], "SHEDDABLE");
    assert!(
        headers.get("x-request-timeout-ms").is_none(),
        "gRPC uses grpc-timeout"
    );
    let timeout = buttress_core::codec::parse_grpc_timeout(&headers["grpc-timeout"]).unwrap();
    assert!(
        timeout < Duration::from_secs(3) && timeout > Duration::from_secs(1),
        "{timeout:?}"
    );
    assert!(parse_traceparent(headers["traceparent"].as_bytes()).is_ok());

    // The tonic server's own context layer read them back.
    let ctx = contexts.lock().unwrap().pop().unwrap();
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "abc-123");
    assert_eq!(ctx.criticality(), Criticality::Sheddable);
    assert!(ctx.remaining(Instant::now()).unwrap() < Duration::from_secs(3));
    assert_eq!(ctx.trace().unwrap().trace_id(), [0x4b; 16]);
}
