//! The metrics example's scripted run — successes, retries, a failure,
//! fallbacks, rejections of several kinds — shared by the tests that
//! read its `/metrics` (`tests/metrics_prometheus.rs`, `tests/ops_rules.rs`).
//!
//! Not a module of `support/mod.rs`: it needs the example, which a test
//! crate includes as its own root module `example`
//! (`#[path = "../examples/metrics_server.rs"] mod example;`), then this
//! file as `#[path = "support/scripted_run.rs"] mod scripted_run;`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::example;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// Sends one request; the status, whether a fallback answered, the body.
async fn send(client: &Http, method: http::Method, uri: String) -> (u16, bool, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let degraded = response.headers().contains_key("x-fallback");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        degraded,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The scripted run: what a day of the shop's traffic looks like, in a
/// few seconds. Returns `/metrics` and the health report. Installs the
/// process's recorder: once per test binary.
pub(crate) async fn scripted_run() -> (String, String) {
    let (prometheus, health) = example::install();
    let inventory = example::stand_in_inventory().await;
    let app = example::app(
        prometheus,
        health,
        format!("http://{inventory}").parse().unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.unwrap() });
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let get = |path: &str| send(&client, http::Method::GET, format!("{base}{path}"));
    let post = |path: &str| send(&client, http::Method::POST, format!("{base}{path}"));

    // Successes.
    for id in 1..=12 {
        let (status, degraded, _) = get(&format!("/orders/{id}")).await;
        assert_eq!((status, degraded), (200, false));
    }
    // Retries: each flaky item fails once, then answers.
    for id in 1..=3 {
        let (status, degraded, _) = get(&format!("/orders/flaky-{id}")).await;
        assert_eq!((status, degraded), (200, false), "retried to success");
    }
    // A write succeeds, and one fails: never retried, never faked.
    assert_eq!(post("/orders/7/checkout").await.0, 200);
    assert_eq!(post("/orders/down/checkout").await.0, 502);
    // Reads of a broken item degrade to the fallback, then the breaker
    // opens and the fallback answers for the open circuit.
    for _ in 0..10 {
        let (status, degraded, body) = get("/orders/down").await;
        assert_eq!((status, degraded), (200, true), "{body}");
        assert!(body.contains(r#""stock":"unknown""#), "{body}");
    }
    // With the circuit open, a write is refused as such.
    assert_eq!(post("/orders/8/checkout").await.0, 503);
    // A request past the server's timeout.
    assert_eq!(get("/reports").await.0, 504);
    // A burst past this caller's rate.
    let mut limited = 0;
    for _ in 0..60 {
        if get("/orders/1").await.0 == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "the burst was rate limited");

    let report = get("/health/report").await.2;
    let (status, _, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    (metrics, report)
}
