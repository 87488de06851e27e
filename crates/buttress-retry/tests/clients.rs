//! Real clients on loopback (issue 7, "Done when"): hyper-util's client and
//! reqwest, under the retry layer, retry a flaky server that fails twice
//! and then answers, and succeed. Real sockets, real time: the assertions
//! are on counts and answers, never on durations.

mod support;

use buttress_core::layer::LayerBuilder;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use buttress_core::telemetry::{Event, RecordingSink};
use buttress_retry::{ReplayBody, RetryLayer, RetryLayerBuilder};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::flaky;
use tower::{Layer, ServiceExt};

fn fast() -> RetryLayerBuilder {
    RetryLayer::builder().configure(|c| {
        c.backoff.base = Duration::from_millis(5);
        c.backoff.max = Duration::from_millis(50);
    })
}

#[tokio::test]
async fn hyper_util_client_retries_a_flaky_server_and_succeeds() {
    let (addr, served) = flaky(2).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let svc = fast().build().unwrap().layer(client);
    let req = Request::get(format!("http://{addr}/items/7"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(served.load(Relaxed), 3);
}

#[tokio::test]
async fn hyper_util_client_replays_a_keyed_post_body() {
    let (addr, served) = flaky(2).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let svc = fast().build().unwrap().layer(client);
    let req = Request::post(format!("http://{addr}/orders"))
        .header("idempotency-key", "order-42")
        .body(Full::new(Bytes::from_static(b"{\"sku\":42}")))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let echoed = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        echoed, "{\"sku\":42}",
        "the third attempt carried the whole body"
    );
    assert_eq!(served.load(Relaxed), 3);
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    // A port nobody listens on any more.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sink = RecordingSink::new();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let svc = fast()
        .name("refused")
        .sink(sink.clone())
        .build()
        .unwrap()
        .layer(client);
    let req = Request::get(format!("http://{addr}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert!(svc.oneshot(req).await.is_err());
    let retries = sink
        .events_for("refused")
        .into_iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .count();
    assert_eq!(retries, 2);
}

/// reqwest's `Client` is a `Service<reqwest::Request>`; its requests are
/// replayed with `try_clone` (feature `reqwest`).
#[cfg(feature = "reqwest")]
mod reqwest_client {
    use super::*;

    #[tokio::test]
    async fn reqwest_client_retries_a_flaky_server_and_succeeds() {
        let (addr, served) = flaky(2).await;
        let svc = fast().build().unwrap().layer(reqwest::Client::new());
        let url = reqwest::Url::parse(&format!("http://{addr}/items/7")).unwrap();
        let res = svc
            .oneshot(reqwest::Request::new(http::Method::GET, url))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(served.load(Relaxed), 3);
    }

    #[tokio::test]
    async fn reqwest_client_replays_a_put_body() {
        let (addr, served) = flaky(2).await;
        let svc = fast().build().unwrap().layer(reqwest::Client::new());
        let url = reqwest::Url::parse(&format!("http://{addr}/items/7")).unwrap();
        let mut req = reqwest::Request::new(http::Method::PUT, url);
        *req.body_mut() = Some(reqwest::Body::from("{\"qty\":3}"));
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "{\"qty\":3}");
        assert_eq!(served.load(Relaxed), 3);
    }
}
