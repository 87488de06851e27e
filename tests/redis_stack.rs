//! A fleet-wide rate limit the way the README tells users to turn it on:
//! `[server.rate_limit.distributed]` in a TOML `ServiceConfig`, two
//! replicas each built from it with `build_server` and served by axum on
//! 127.0.0.1, a reqwest client spreading one tenant's traffic over both,
//! one real `redis-server` (started on a free loopback port, stopped at
//! the end; skipped with a message when it is not installed, a failure
//! under `.ci/run`).
//!
//! Two local limiters would admit the tenant's quota twice; the shared one
//! admits it about once, and its refusals carry the same typed 429 with
//! `RateLimit` headers as the local limiter's.

#![cfg(all(
    feature = "redis",
    feature = "serde",
    feature = "stack",
    feature = "axum"
))]

// The same helper the limiter's own Redis tests use; this test needs
// only part of it.
#[allow(dead_code, unreachable_pub)]
#[path = "../crates/buttress-limit/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use buttress::config::ServiceConfig;
use buttress::stack::ServerLayer;
use redis_server::RedisServer;

/// The quota: 20 a second with a burst of 20, per tenant, for the fleet.
const QUOTA: u64 = 20;

fn service_toml(redis: &str) -> String {
    format!(
        r#"
[server]
name = "api"

[server.rate_limit]
key = {{ header = "x-tenant" }}
quota = {{ limit = {QUOTA}, period = "1s", burst = {QUOTA} }}

[server.rate_limit.distributed]
url = "{redis}"
replicas = 2
lease = 2
timeout = "200ms"
"#
    )
}

async fn serve(server: ServerLayer) -> SocketAddr {
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(server);
    support::serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_from_one_toml_share_a_tenants_quota() {
    let Some(redis) = RedisServer::start("two_replicas_from_one_toml_share_a_tenants_quota") else {
        return;
    };
    let config = ServiceConfig::from_toml(&service_toml(&redis.url())).unwrap();
    let replicas = [
        config.build_server().unwrap(),
        config.build_server().unwrap(),
    ];
    let mut addrs = Vec::new();
    for replica in &replicas {
        addrs.push(serve(replica.clone()).await);
    }
    let client = reqwest::Client::new();

    // 100 requests a second for 3 s, alternating between the replicas as
    // a round-robin load balancer would.
    let run = Duration::from_secs(3);
    let started = Instant::now();
    let (mut admitted, mut refused, mut sent) = (0u64, 0u64, 0u64);
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed() < run {
        ticker.tick().await;
        let addr = addrs[(sent % 2) as usize];
        sent += 1;
        let answer = client
            .get(format!("http://{addr}/orders"))
            .header("x-tenant", "acme")
            .send()
            .await
            .unwrap();
        match answer.status().as_u16() {
            200 => admitted += 1,
            429 => {
                refused += 1;
                let headers = answer.headers();
                assert!(
                    headers.contains_key("ratelimit") && headers.contains_key("retry-after"),
                    "a refusal carries the RateLimit headers: {headers:?}"
                );
            }
            other => panic!("only 200 or 429 may answer, got {other}"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    // The fleet's allowance over the run: the burst, the refill, and the
    // documented over-admission (lease × replicas) plus what each replica
    // admits on its local share before Redis' first answer (burst / 2).
    let quota = QUOTA as f64 * (1.0 + seconds);
    let ceiling = quota + 2.0 * 2.0 + QUOTA as f64;
    // Two replicas enforcing the quota alone would admit it twice over.
    let local_only = 2.0 * quota;
    eprintln!(
        "sent {sent} in {seconds:.2} s: admitted {admitted}, refused {refused}; \
         fleet quota {quota:.0}, two local limits {local_only:.0}"
    );
    assert!(
        (admitted as f64) <= ceiling,
        "the fleet admits about one quota ({quota:.0}, at most {ceiling:.0}), got {admitted}"
    );
    assert!(
        (admitted as f64) >= 0.8 * quota,
        "the quota is served, not starved: {admitted} of {quota:.0}"
    );
    assert!(
        (admitted as f64) < 0.8 * local_only,
        "shared, not per replica: {admitted} against {local_only:.0}"
    );
    assert_eq!(admitted + refused, sent);

    // Both replicas talked to Redis, and decided almost every request
    // without waiting for it.
    for replica in &replicas {
        let stats = replica
            .rate_limit()
            .expect("the stack has the rate limit")
            .distributed()
            .expect("the limit is distributed");
        assert!(stats.redis_up, "Redis is up: {stats:?}");
        assert!(stats.redis_calls > 0, "the replica used Redis: {stats:?}");
        assert_eq!(stats.redis_errors, 0, "no Redis call failed: {stats:?}");
        assert_eq!(stats.fallback, 0, "Redis never went down: {stats:?}");
    }
}

#[test]
fn the_example_services_distributed_section_loads_when_uncommented() {
    let uncommented = support::example::with_section_uncommented("server.rate_limit.distributed");
    let config = ServiceConfig::from_toml(&uncommented).unwrap();
    let redis = config
        .server
        .rate_limit
        .settings()
        .and_then(|limit| limit.distributed.clone())
        .expect("the distributed section, uncommented");
    assert_eq!((redis.replicas, redis.lease), (3, 20));

    // Its TLS block, as its comment says: with a rediss:// URL.
    let tls = support::example::uncomment(&uncommented, "server.rate_limit.distributed.tls")
        .replace("redis://127.0.0.1:6379", "rediss://127.0.0.1:6380");
    let config = ServiceConfig::from_toml(&tls).unwrap();
    let redis = config
        .server
        .rate_limit
        .settings()
        .and_then(|limit| limit.distributed.clone())
        .unwrap();
    assert!(redis.url.starts_with("rediss://") && redis.tls.ca_file.is_some());
    // Without the URL change, the TLS block is refused, naming it.
    let refused = support::example::uncomment(&uncommented, "server.rate_limit.distributed.tls");
    assert_eq!(
        ServiceConfig::from_toml(&refused).unwrap_err().field(),
        "server.rate_limit.distributed.tls"
    );
}
