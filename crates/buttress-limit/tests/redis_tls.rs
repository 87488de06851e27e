//! Fleet-wide rate limits over TLS (`rediss://`, feature `redis-tls`) to
//! a real `redis-server` with a TLS port, its certificates made for the
//! test by `openssl` (a test CA, a server certificate for 127.0.0.1, a
//! client certificate). Skipped with a message when either program is
//! missing, a failure under `.ci/run`.
//!
//!   cargo test -p buttress-limit --features redis-tls --test redis_tls -- --nocapture

#![cfg(feature = "redis-tls")]

mod support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use buttress_core::BoxError;
use buttress_core::layer::LayerBuilder;
use buttress_limit::rate::{
    DistributedStats, KeySource, QuotaConfig, RateLimitHandle, RateLimitLayer, RedisRateConfig,
    RedisTlsConfig,
};
use support::redis_server::RedisServer;
use tower::util::BoxService;
use tower::{Service, ServiceBuilder, ServiceExt};

type Svc = BoxService<http::Request<()>, (), BoxError>;

fn limited(redis: RedisRateConfig) -> (Svc, RateLimitHandle) {
    let layer = RateLimitLayer::builder()
        .configure(|c| {
            c.key = KeySource::Header("x-tenant".into());
            c.quota = QuotaConfig::per_second(100);
            c.distributed = Some(RedisRateConfig {
                timeout: Duration::from_millis(500),
                ..redis
            });
        })
        .build()
        .expect("a valid config");
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(()) });
    (BoxService::new(svc), handle)
}

/// Sends `n` requests for one tenant, a millisecond apart; all must be
/// decided (admitted or refused), none may fail otherwise.
async fn send(svc: &mut Svc, n: usize) -> usize {
    let mut admitted = 0;
    for _ in 0..n {
        let request = http::Request::get("/")
            .header("x-tenant", "acme")
            .body(())
            .unwrap();
        match svc.ready().await.unwrap().call(request).await {
            Ok(()) => admitted += 1,
            Err(err) => {
                buttress_core::Rejected::find(&*err).expect("only typed refusals");
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    admitted
}

/// Waits (real time, at most 5 s) until the limiter has made a call.
async fn settled(handle: &RateLimitHandle) -> DistributedStats {
    let started = Instant::now();
    loop {
        let stats = handle.distributed().unwrap();
        if stats.redis_calls > 0 && stats.in_flight == 0
            || started.elapsed() > Duration::from_secs(5)
        {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_limiter_shares_its_quota_through_redis() {
    let Some(redis) = RedisServer::start_tls("over_tls", false) else {
        return;
    };
    let tls = redis.tls();
    let (mut svc, handle) = limited(RedisRateConfig {
        url: redis.tls_url(),
        tls: RedisTlsConfig {
            ca_file: Some(tls.ca_file()),
            ..RedisTlsConfig::default()
        },
        ..RedisRateConfig::default()
    });
    let admitted = send(&mut svc, 300).await;
    let stats = settled(&handle).await;
    let keys = redis.dbsize();
    println!("tls: admitted {admitted} of 300; {stats:?}; {keys} keys in Redis");
    assert!(stats.redis_calls > 0 && stats.refills > 0, "{stats:?}");
    assert_eq!(
        stats.redis_errors, 0,
        "every call over TLS answered: {stats:?}"
    );
    assert!(stats.redis_up);
    assert_eq!(keys, 1, "the tenant's state is in Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_the_server_asks() {
    let Some(redis) = RedisServer::start_tls("client_certificate", true) else {
        return;
    };
    let tls = redis.tls();
    let (mut svc, handle) = limited(RedisRateConfig {
        url: redis.tls_url(),
        tls: RedisTlsConfig {
            ca_file: Some(tls.ca_file()),
            client_cert_file: Some(tls.client_cert_file()),
            client_key_file: Some(tls.client_key_file()),
        },
        ..RedisRateConfig::default()
    });
    send(&mut svc, 100).await;
    let stats = settled(&handle).await;
    println!("mtls: {stats:?}");
    assert!(stats.refills > 0 && stats.redis_errors == 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_fails_no_request() {
    let Some(redis) = RedisServer::start_tls("untrusted", false) else {
        return;
    };
    // No `ca_file`: the system's roots do not know the test CA.
    let (mut svc, handle) = limited(RedisRateConfig {
        url: redis.tls_url(),
        failures: 1,
        ..RedisRateConfig::default()
    });
    let admitted = send(&mut svc, 300).await;
    let stats = settled(&handle).await;
    println!("untrusted: admitted {admitted} of 300 on the local share; {stats:?}");
    assert!(stats.redis_errors > 0, "the handshake failed: {stats:?}");
    assert_eq!(stats.refills, 0, "nothing leased over an untrusted link");
    assert!(admitted > 0, "the local share still admits");
    assert_eq!(redis.dbsize(), 0, "nothing reached Redis");
}

#[test]
fn unreadable_certificate_files_fail_the_build_naming_the_field() {
    let config = RedisRateConfig {
        url: "rediss://127.0.0.1:6380".into(),
        tls: RedisTlsConfig {
            ca_file: Some("/nonexistent/ca.crt".into()),
            ..RedisTlsConfig::default()
        },
        ..RedisRateConfig::default()
    };
    let err = RateLimitLayer::builder()
        .configure(|c| {
            c.key = KeySource::Header("x-tenant".into());
            c.distributed = Some(config);
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "distributed.tls.ca_file");
}
