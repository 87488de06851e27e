//! (14) A fleet-wide rate limit whose Redis hangs, while a caller floods
//! it with invented keys.
//!
//! The worst Redis is not a refused connection but one that accepts and
//! never answers. Here the server stack comes from TOML with
//! `[server.rate_limit.distributed]` pointing at such a listener on
//! 127.0.0.1, and 4,000 requests arrive, most with a key never seen
//! before. No request waits on Redis: each is answered at once (200 or a
//! typed 429, never a 5xx), the calls out to Redis stay within
//! `max_in_flight`, Redis is marked down after `failures` timeouts, and
//! the tracked keys stay within `max_keys`. Real sockets, so the bound on
//! each answer's time is generous: the configured Redis timeout, which
//! no request may wait out.

use std::time::{Duration, Instant};

use buttress::config::ServiceConfig;
use tower::{Layer, ServiceExt};

/// A "Redis" that accepts connections and never says a word.
async fn hanging_redis() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            // Keep it open, read nothing, answer nothing; the limiter's
            // connections are bounded, so this list is too.
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_redis_under_a_key_flood_delays_no_request() {
    let redis = hanging_redis().await;
    let toml = format!(
        r#"
[server]
name = "api"

[server.rate_limit]
key = {{ header = "x-tenant" }}
quota = {{ limit = 5, period = "1s", burst = 5 }}
max_keys = 256

[server.rate_limit.distributed]
url = "redis://{redis}"
replicas = 4
timeout = "300ms"
max_in_flight = 8
"#
    );
    let server = ServiceConfig::from_toml(&toml)
        .unwrap()
        .build_server()
        .unwrap();
    let service = server.layer(tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    }));

    let mut slowest = Duration::ZERO;
    let (mut admitted, mut refused) = (0u32, 0u32);
    for i in 0..4_000u32 {
        // Three in four requests invent a key; the rest are one hot tenant.
        let key = if i % 4 == 0 {
            "hot".to_owned()
        } else {
            format!("invented-{i}")
        };
        let request = http::Request::get("/")
            .header("x-tenant", key)
            .body(String::new())
            .unwrap();
        let started = Instant::now();
        let answer = service.clone().oneshot(request).await.unwrap();
        slowest = slowest.max(started.elapsed());
        match answer.status().as_u16() {
            200 => admitted += 1,
            429 => refused += 1,
            other => panic!("a hanging Redis must never fail a request: {other}"),
        }
        if i % 500 == 0 {
            // Let the background calls time out between bursts.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let handle = server.rate_limit().expect("the stack has the rate limit");
    let stats = handle.distributed().expect("the limit is distributed");
    eprintln!(
        "admitted {admitted}, refused {refused}, slowest answer {slowest:?}, \
         tracked keys {}, {stats:?}",
        handle.tracked_keys()
    );
    assert!(
        slowest < Duration::from_millis(300),
        "no request waits out the Redis timeout: {slowest:?}"
    );
    assert!(stats.redis_errors > 0, "the calls timed out: {stats:?}");
    assert!(!stats.redis_up, "Redis is marked down: {stats:?}");
    assert!(
        stats.in_flight <= 8,
        "calls out within max_in_flight: {stats:?}"
    );
    assert!(
        handle.tracked_keys() <= 256,
        "the flood is held to max_keys: {}",
        handle.tracked_keys()
    );
    assert!(admitted > 0, "the local shares still admit");
    assert!(refused > 0, "and still limit");
}
