//! reqwest under a client stack with no adapter of the user's: a
//! `reqwest::RequestBuilder` in, a `reqwest::Response` out, against a real
//! axum server on 127.0.0.1. The correlation ID and deadline arrive
//! downstream; a retried PUT's body arrives whole on the second attempt;
//! an open breaker, a spent deadline and a throttled call are errors in
//! which `Rejected::find` names the reason, with a retry hint where one
//! exists.

#![cfg(all(feature = "stack", feature = "reqwest"))]

mod support;

use std::time::Duration;

use buttress::breaker::BreakerConfig;
use buttress::core::RequestContext;
use buttress::core::context::CorrelationId;
use buttress::limit::ThrottleConfig;
use buttress::stack::{ClientStack, Toggle};
use buttress::{BoxError, Reason, Rejected};

fn reason(error: &BoxError) -> Option<Reason> {
    Rejected::find(&**error).map(Rejected::reason)
}

#[tokio::test]
async fn the_id_and_deadline_arrive_and_the_response_is_reqwests() {
    let (addr, seen) = support::dependency::serve().await;
    let http = reqwest::Client::new();
    let client = ClientStack::new("echo").over_reqwest(http.clone()).unwrap();
    let context = RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"order-77").unwrap())
        .with_deadline(tokio::time::Instant::now() + Duration::from_secs(5));
    let request = http.post(format!("http://{addr}/echo")).body("hello");
    let response = context.scope(client.send(request)).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
    let headers = seen.headers.lock().unwrap().last().cloned().unwrap();
    assert_eq!(headers["x-request-id"], "order-77");
    let left: u64 = headers["x-request-timeout-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(left <= 5_000 && left > 4_000, "{left}");
}

#[tokio::test]
async fn a_retried_put_sends_its_body_whole_again() {
    let (addr, seen) = support::dependency::serve().await;
    let http = reqwest::Client::new();
    let client = ClientStack::new("flaky")
        .over_reqwest(http.clone())
        .unwrap();
    let body: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let request = http.put(format!("http://{addr}/flaky")).body(body.clone());
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), body);
    let bodies = seen.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "one retry");
    assert!(bodies.iter().all(|b| b[..] == body[..]));
}

#[tokio::test]
async fn refusals_are_errors_that_name_their_reason() {
    let (addr, _) = support::dependency::serve().await;
    let http = reqwest::Client::new();
    let failing = || http.post(format!("http://{addr}/failing"));

    // An open breaker, with the time until its probe.
    let client = ClientStack::new("breaker")
        .breaker(BreakerConfig {
            minimum_calls: 4,
            wait: Duration::from_secs(5),
            ..BreakerConfig::default()
        })
        .over_reqwest(http.clone())
        .unwrap();
    for _ in 0..4 {
        let response = client.send(failing()).await.unwrap();
        assert_eq!(response.status(), 503, "the dependency's own answer");
    }
    let error = client.send(failing()).await.unwrap_err();
    assert_eq!(reason(&error), Some(Reason::CircuitOpen));
    let hint = Rejected::find(&*error).unwrap().retry_after().unwrap();
    assert!(hint <= Duration::from_secs(5) && hint > Duration::ZERO);

    // A deadline already spent: refused before anything is sent.
    let spent = RequestContext::starting_now().with_deadline(tokio::time::Instant::now());
    let error = spent
        .scope(client.send(http.post(format!("http://{addr}/echo"))))
        .await
        .unwrap_err();
    assert_eq!(reason(&error), Some(Reason::DeadlineExceeded));

    // A throttled call.
    let client = ClientStack::new("throttle")
        .breaker(Toggle::Off)
        .throttle(ThrottleConfig {
            seed: Some(5),
            ..ThrottleConfig::default()
        })
        .over_reqwest(http.clone())
        .unwrap();
    let mut throttled = None;
    for _ in 0..200 {
        if let Err(error) = client.send(failing()).await {
            throttled = Some(error);
            break;
        }
    }
    let error = throttled.expect("the throttle refuses within 200 failing calls");
    assert_eq!(reason(&error), Some(Reason::Throttled));
    assert!(Rejected::find(&*error).unwrap().retry_after().is_some());
}
