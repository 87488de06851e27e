//! A generated tonic client (tonic-health's) over a client stack over a
//! real `Channel`, with no adapter code: the stack hands the channel
//! tonic's own body type (`replay_into`), the correlation ID and deadline
//! arrive downstream, and the stack's refusals reach the caller as the
//! `tonic::Status` they stand for, with their retry hint — while
//! `Rejected::find` still finds the refusal behind the status.

#![cfg(all(feature = "stack", feature = "tonic", feature = "serde"))]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::breaker::BreakerConfig;
use buttress::core::RequestContext;
use buttress::core::context::CorrelationId;
use buttress::edge::EdgeLayer;
use buttress::limit::ThrottleConfig;
use buttress::retry::replay::BufferInto;
use buttress::stack::{Client, ClientLayer, ClientStack, Toggle};
use buttress::{Reason, Rejected};
use http::HeaderMap;
use support::{REJECT_HEADER, RefuseLayer};
use tonic::Code;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, ServiceBuilder};

/// The client type a service keeps: nameable, cloneable.
type Health = HealthClient<Client<Channel, BufferInto<tonic::body::Body>>>;

/// The headers of every call the server received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<HeaderMap>>>);

impl Received {
    fn last(&self) -> HeaderMap {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a call arrived")
    }
}

/// A tonic health server that records what it receives and refuses a
/// call whose `x-test-reject` names a reason (the edge answers it).
async fn server() -> (std::net::SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let log = received.clone();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        let _reporter = _reporter;
        tonic::transport::Server::builder()
            .layer(
                ServiceBuilder::new()
                    .map_request(move |req: http::Request<tonic::body::Body>| {
                        log.0.lock().unwrap().push(req.headers().clone());
                        req
                    })
                    .layer(EdgeLayer::new())
                    .layer(RefuseLayer),
            )
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, received)
}

async fn client(
    addr: std::net::SocketAddr,
    stack: &ClientLayer<BufferInto<tonic::body::Body>>,
) -> Health {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(stack.layer(channel))
}

fn check(
    context: Option<RequestContext>,
    reject: Option<&str>,
) -> tonic::Request<HealthCheckRequest> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(context) = context {
        request.extensions_mut().insert(context);
    }
    if let Some(reason) = reject {
        request
            .metadata_mut()
            .insert(REJECT_HEADER, reason.parse().unwrap());
    }
    request
}

fn reason(status: &tonic::Status) -> Option<Reason> {
    Rejected::find(status).map(Rejected::reason)
}

#[tokio::test]
async fn id_and_deadline_arrive_and_refusals_are_statuses_with_hints() {
    let (addr, received) = server().await;
    let stack = ClientStack::new("health")
        .replay_into::<tonic::body::Body>()
        .breaker(BreakerConfig {
            minimum_calls: 5,
            wait: Duration::from_secs(5),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    let mut health = client(addr, &stack).await;

    // The context's ID and remaining deadline reach the server.
    let context = RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"order-1234").unwrap())
        .with_deadline(tokio::time::Instant::now() + Duration::from_secs(5));
    health
        .check(check(Some(context), None))
        .await
        .expect("served");
    let seen = received.last();
    assert_eq!(seen["x-request-id"], "order-1234");
    let left = buttress::core::codec::parse_grpc_timeout(&seen["grpc-timeout"]).unwrap();
    assert!(
        left <= Duration::from_secs(5) && left > Duration::from_secs(4),
        "{left:?}"
    );

    // A breaker opened by failing calls: UNAVAILABLE with the time until
    // its probe, not UNKNOWN. With the first call's success, four
    // failures make the five calls the breaker judges by.
    for _ in 0..4 {
        let status = health
            .check(check(None, Some("circuit_open")))
            .await
            .unwrap_err();
        assert_eq!(reason(&status), None, "the dependency's own UNAVAILABLE");
    }
    let status = health.check(check(None, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::CircuitOpen));
    let pushback = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("a hint");
    let pushback: u64 = pushback.to_str().unwrap().parse().unwrap();
    assert!(pushback > 0 && pushback <= 5_000, "{pushback}");
    let breaker = stack.breaker().unwrap();
    breaker.close();

    // A deadline already spent: DEADLINE_EXCEEDED, and nothing sent.
    let calls = received.0.lock().unwrap().len();
    let spent = RequestContext::starting_now().with_deadline(tokio::time::Instant::now());
    let status = health.check(check(Some(spent), None)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(received.0.lock().unwrap().len(), calls);
}

#[tokio::test]
async fn a_throttled_call_is_unavailable_with_a_pushback_hint() {
    let (addr, _) = server().await;
    let stack = ClientStack::new("health")
        .replay_into::<tonic::body::Body>()
        .breaker(Toggle::Off)
        .throttle(ThrottleConfig {
            seed: Some(11),
            ..ThrottleConfig::default()
        })
        .build()
        .unwrap();
    let mut health = client(addr, &stack).await;
    // The dependency refuses everything (UNAVAILABLE): the throttle soon
    // refuses calls locally, and says so as a status.
    let mut throttled = None;
    for _ in 0..200 {
        let status = health
            .check(check(None, Some("circuit_open")))
            .await
            .unwrap_err();
        if reason(&status) == Some(Reason::Throttled) {
            throttled = Some(status);
            break;
        }
        assert_eq!(
            status.code(),
            Code::Unavailable,
            "the dependency's own answer"
        );
    }
    let status = throttled.expect("the throttle refuses within 200 failing calls");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.metadata().get("grpc-retry-pushback-ms").is_some());
}

/// Answers UNAVAILABLE to every first attempt (a call without
/// `grpc-previous-rpc-attempts`), counting the attempts it sees.
#[derive(Clone)]
struct FirstAttemptUnavailable<S> {
    inner: S,
    attempts: Arc<Mutex<usize>>,
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for FirstAttemptUnavailable<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        *self.attempts.lock().unwrap() += 1;
        if request.headers().contains_key("grpc-previous-rpc-attempts") {
            return Box::pin(self.inner.call(request));
        }
        Box::pin(async {
            Ok(http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "14")
                .body(tonic::body::Body::empty())
                .unwrap())
        })
    }
}

/// gRPC's retry policy (gRFC A6) from TOML: `Check`, declared safe, is
/// retried on UNAVAILABLE; without the declaration the same call (a POST,
/// like every gRPC call) is not.
#[tokio::test]
async fn a_method_declared_safe_is_retried_and_one_not_declared_is_not() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(Mutex::new(0));
    let counted = attempts.clone();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        let _reporter = _reporter;
        tonic::transport::Server::builder()
            .layer(tower::layer::layer_fn(move |inner| {
                FirstAttemptUnavailable {
                    inner,
                    attempts: counted.clone(),
                }
            }))
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let config = buttress::config::ServiceConfig::from_toml(
        r#"
        [clients.declared.retry]
        grpc_methods = [{ service = "grpc.health.v1.Health", method = "Check", codes = [14] }]
        [clients.undeclared]
        "#,
    )
    .unwrap();
    let build = |name: &str| {
        config
            .client_stack(name)
            .unwrap()
            .replay_into::<tonic::body::Body>()
            .build()
            .unwrap()
    };

    let mut declared = client(addr, &build("declared")).await;
    declared
        .check(check(None, None))
        .await
        .expect("retried to success");
    assert_eq!(*attempts.lock().unwrap(), 2);

    *attempts.lock().unwrap() = 0;
    let mut undeclared = client(addr, &build("undeclared")).await;
    let status = undeclared.check(check(None, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(*attempts.lock().unwrap(), 1, "not retried");
}
