//! A real axum server behind a per-caller rate limit and the edge layer:
//! a caller over its quota gets 429 with `Retry-After` and the
//! `RateLimit-Policy` / `RateLimit` fields, while another caller keeps
//! getting 200 — keyed by an API-key header, and by the client address a
//! trusted proxy forwards.

mod support;

use buttress::core::layer::LayerBuilder;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use buttress::TrustPolicy;
use buttress::edge::EdgeLayer;
use buttress::limit::rate::{KeySource, QuotaConfig, RateLimitLayer};
use support::Connection;
use tower::ServiceBuilder;

async fn serve(rate: RateLimitLayer) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(ServiceBuilder::new().layer(EdgeLayer::new()).layer(rate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// Three requests a minute: one every 20 s, all three at once.
fn three_a_minute() -> QuotaConfig {
    QuotaConfig::per_minute(3)
}

#[tokio::test]
async fn a_caller_over_quota_gets_429_with_the_headers_while_another_gets_200() {
    let rate = RateLimitLayer::builder()
        .configure(|c| {
            c.key = KeySource::Header("x-api-key".into());
            c.quota = three_a_minute();
        })
        .name("public")
        .build()
        .unwrap();
    let addr = serve(rate.clone()).await;
    let mut alice = Connection::open(addr).await;
    let mut bob = Connection::open(addr).await;

    for _ in 0..3 {
        let answer = alice.get("/", &[("x-api-key", "alice")]).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.as_ref(), b"ok");
    }
    for round in 0..3 {
        let refused = alice.get("/", &[("x-api-key", "alice")]).await;
        assert_eq!(refused.status, 429, "round {round}");
        assert_eq!(refused.body.as_ref(), b"rate limited\n");
        // The next unit comes back 20 s after the first request, minus
        // the few milliseconds this test has taken: rounded up, 20.
        assert_eq!(refused.headers["retry-after"], "20");
        assert_eq!(refused.headers["ratelimit-policy"], "default;q=3;w=60");
        assert_eq!(refused.headers["ratelimit"], "default;r=0;t=60");
        assert!(!alice.is_closed(), "a 429 keeps the connection");

        let answer = bob.get("/", &[("x-api-key", "bob")]).await;
        assert_eq!(answer.status, 200, "bob has his own quota");
        assert!(answer.headers.get("ratelimit").is_none());
    }
    assert_eq!(rate.handle().tracked_keys(), 2);
    assert_eq!(rate.handle().limited(), 3);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota() {
    // The test client connects from 127.0.0.1: it plays our proxy.
    let rate = RateLimitLayer::builder()
        .configure(|c| c.quota = three_a_minute())
        .key_forwarded(TrustPolicy::peers(["127.0.0.1"]).unwrap())
        .build()
        .unwrap();
    let addr = serve(rate.clone()).await;
    let mut proxy = Connection::open(addr).await;
    let via = |chain: &'static str| [("x-forwarded-for", chain)];

    for _ in 0..3 {
        let answer = proxy.get("/", &via("203.0.113.1")).await;
        assert_eq!(answer.status, 200);
    }
    // The client cannot escape by prefixing an address of its choosing.
    let refused = proxy.get("/", &via("198.51.100.99, 203.0.113.1")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.headers["retry-after"], "20");
    let answer = proxy.get("/", &via("203.0.113.2")).await;
    assert_eq!(answer.status, 200, "another client behind the same proxy");
    assert_eq!(rate.handle().tracked_keys(), 2);
}
