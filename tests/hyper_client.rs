//! hyper-util's client, and a plain tower service, under a client stack
//! with no adapter: the correlation ID and deadline arrive downstream; a
//! retried PUT's body arrives whole; an open breaker, a spent deadline and
//! a throttled call are errors in which `Rejected::find` names the reason,
//! with a retry hint where one exists.

#![cfg(feature = "stack")]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::breaker::BreakerConfig;
use buttress::core::RequestContext;
use buttress::core::context::CorrelationId;
use buttress::limit::ThrottleConfig;
use buttress::retry::ReplayBody;
use buttress::stack::{ClientStack, Toggle};
use buttress::{BoxError, Reason, Rejected};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// hyper-util's pooled client, taking the body type the stack sends.
type Http = Client<hyper_util::client::legacy::connect::HttpConnector, ReplayBody<Full<Bytes>>>;

fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(body.into()))
        .unwrap()
}

fn reason(error: &BoxError) -> Option<Reason> {
    Rejected::find(&**error).map(Rejected::reason)
}

#[tokio::test]
async fn hyper_util_the_id_and_deadline_arrive() {
    let (addr, seen) = support::dependency::serve().await;
    let client = ClientStack::new("echo").build().unwrap().layer(http());
    let context = RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"order-88").unwrap())
        .with_deadline(tokio::time::Instant::now() + Duration::from_secs(5));
    let response = context
        .scope(client.oneshot(request("POST", addr, "/echo", "hello")))
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
    let headers = seen.headers.lock().unwrap().last().cloned().unwrap();
    assert_eq!(headers["x-request-id"], "order-88");
    let left: u64 = headers["x-request-timeout-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(left <= 5_000 && left > 4_000, "{left}");
}

#[tokio::test]
async fn hyper_util_a_retried_put_sends_its_body_whole_again() {
    let (addr, seen) = support::dependency::serve().await;
    let client = ClientStack::new("flaky").build().unwrap().layer(http());
    let body: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let response = client
        .oneshot(request("PUT", addr, "/flaky", body.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(echoed, body);
    let bodies = seen.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "one retry");
    assert!(bodies.iter().all(|b| b[..] == body[..]));
}

#[tokio::test]
async fn hyper_util_refusals_are_errors_that_name_their_reason() {
    let (addr, _) = support::dependency::serve().await;
    let client = ClientStack::new("breaker")
        .breaker(BreakerConfig {
            minimum_calls: 4,
            wait: Duration::from_secs(5),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap()
        .layer(http());
    for _ in 0..4 {
        let response = client
            .clone()
            .oneshot(request("POST", addr, "/failing", ""))
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "the dependency's own answer");
    }
    let error = client
        .clone()
        .oneshot(request("POST", addr, "/failing", ""))
        .await
        .unwrap_err();
    assert_eq!(reason(&error), Some(Reason::CircuitOpen));
    let hint = Rejected::find(&*error).unwrap().retry_after().unwrap();
    assert!(hint <= Duration::from_secs(5) && hint > Duration::ZERO);

    let spent = RequestContext::starting_now().with_deadline(tokio::time::Instant::now());
    let error = spent
        .scope(client.clone().oneshot(request("POST", addr, "/echo", "")))
        .await
        .unwrap_err();
    assert_eq!(reason(&error), Some(Reason::DeadlineExceeded));

    let client = ClientStack::new("throttle")
        .breaker(Toggle::Off)
        .throttle(ThrottleConfig {
            seed: Some(5),
            ..ThrottleConfig::default()
        })
        .build()
        .unwrap()
        .layer(http());
    let mut throttled = None;
    for _ in 0..200 {
        if let Err(error) = client
            .clone()
            .oneshot(request("POST", addr, "/failing", ""))
            .await
        {
            throttled = Some(error);
            break;
        }
    }
    let error = throttled.expect("the throttle refuses within 200 failing calls");
    assert_eq!(reason(&error), Some(Reason::Throttled));
    assert!(Rejected::find(&*error).unwrap().retry_after().is_some());
}

/// Any tower service is a transport: here one that records what it gets
/// and fails the first attempt of each request.
#[tokio::test]
async fn a_plain_tower_service_gets_the_context_and_the_replayed_body() {
    let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let log = seen.clone();
    let transport = tower::service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let retried = parts.headers.contains_key("x-retry-attempt");
            log.lock().unwrap().push((parts.headers, body));
            let status = if retried { 200 } else { 503 };
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    let client = ClientStack::new("plain").build().unwrap().layer(transport);
    let context = RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"plain-1").unwrap())
        .with_deadline(tokio::time::Instant::now() + Duration::from_secs(5));
    let put = Request::put("http://dep/items/1")
        .body(Full::new(Bytes::from_static(b"item one")))
        .unwrap();
    let response = context.scope(client.oneshot(put)).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (headers, body) in seen.iter() {
        assert_eq!(headers["x-request-id"], "plain-1");
        assert!(headers.contains_key("x-request-timeout-ms"));
        assert_eq!(body, "item one");
    }
}

/// A plain tower service as the transport: an open breaker, a spent
/// deadline and a throttled call are errors naming their reason, with a
/// retry hint where one exists.
#[tokio::test(start_paused = true)]
async fn a_plain_tower_service_sees_refusals_that_name_their_reason() {
    let failing = tower::service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
        Ok::<_, BoxError>(http::Response::builder().status(503).body(()).unwrap())
    });
    let post = || {
        Request::post("http://dep/orders")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let client = ClientStack::new("plain-breaker")
        .breaker(BreakerConfig {
            minimum_calls: 4,
            wait: Duration::from_secs(5),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap()
        .layer(failing);
    for _ in 0..4 {
        assert_eq!(client.clone().oneshot(post()).await.unwrap().status(), 503);
    }
    let error = client.clone().oneshot(post()).await.unwrap_err();
    assert_eq!(reason(&error), Some(Reason::CircuitOpen));
    assert!(Rejected::find(&*error).unwrap().retry_after().is_some());

    let spent = RequestContext::starting_now().with_deadline(tokio::time::Instant::now());
    let error = spent
        .scope(client.clone().oneshot(post()))
        .await
        .unwrap_err();
    assert_eq!(reason(&error), Some(Reason::DeadlineExceeded));

    let client = ClientStack::new("plain-throttle")
        .breaker(Toggle::Off)
        .throttle(ThrottleConfig {
            seed: Some(5),
            ..ThrottleConfig::default()
        })
        .build()
        .unwrap()
        .layer(failing);
    let mut throttled = None;
    for _ in 0..200 {
        if let Err(error) = client.clone().oneshot(post()).await {
            throttled = Some(error);
            break;
        }
    }
    let error = throttled.expect("the throttle refuses within 200 failing calls");
    assert_eq!(reason(&error), Some(Reason::Throttled));
    assert!(Rejected::find(&*error).unwrap().retry_after().is_some());
}
