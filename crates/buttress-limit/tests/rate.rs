//! The rate limit's invariants, on tokio's paused clock.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress_core::answer::{BodyFormat, RATELIMIT, RATELIMIT_POLICY};
use buttress_core::context::PeerAddr;
use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected, RequestContext, TrustPolicy};
use buttress_limit::rate::{
    ForwardedHeader, KeySource, QuotaConfig, QuotaOverride, RateLimitConfig, RateLimitLayer,
    RateLimitMode,
};
use tokio::time::{Instant, advance};
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<()>;

fn bare() -> impl Service<
    Req,
    Response = (),
    Error = Infallible,
    Future = std::future::Ready<Result<(), Infallible>>,
> + Clone {
    tower::service_fn(|_req: Req| std::future::ready(Ok::<_, Infallible>(())))
}

/// `ready` + `call` on a service whose futures are ready at once.
fn call<S: Service<Req>>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(ready) = svc.poll_ready(&mut cx) else {
        panic!("not ready")
    };
    ready?;
    match pin!(svc.call(req)).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

fn rejection(result: Result<(), BoxError>) -> Rejected {
    let err = result.expect_err("a rejection");
    let rejected = Rejected::find(&*err).expect("a Rejected").clone();
    assert_eq!(rejected.reason(), Reason::RateLimited);
    assert!(!rejected.was_sent());
    rejected
}

fn with_header(name: &str, value: &str) -> Req {
    http::Request::get("/")
        .header(name, value)
        .body(())
        .unwrap()
}

fn from_peer(peer: &str, forwarded_for: Option<&str>) -> Req {
    let mut req = match forwarded_for {
        Some(chain) => with_header("x-forwarded-for", chain),
        None => http::Request::new(()),
    };
    let peer: IpAddr = peer.parse().unwrap();
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::new(peer, 40_000)));
    req
}

fn ten_per_second_burst_five() -> QuotaConfig {
    QuotaConfig::per_second(10).burst(5)
}

/// A limit of `quota` per key from `key`, the other settings at their
/// defaults.
fn limit(quota: QuotaConfig, key: KeySource) -> RateLimitLayer {
    RateLimitLayer::from_config(&RateLimitConfig {
        quota,
        key,
        ..RateLimitConfig::default()
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn ten_per_second_with_burst_five_admits_five_at_once_then_one_per_100ms() {
    let layer = limit(ten_per_second_burst_five(), KeySource::Global);
    let mut svc = layer.layer(bare());
    let admitted = (0..20)
        .filter(|_| call(&mut svc, http::Request::new(())).is_ok())
        .count();
    assert_eq!(admitted, 5, "the burst, at once");

    for step in 1..=50 {
        advance(Duration::from_millis(100)).await;
        assert!(
            call(&mut svc, http::Request::new(())).is_ok(),
            "one more after {step} × 100 ms"
        );
        let refused = rejection(call(&mut svc, http::Request::new(())));
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
    }
    // Halfway through an interval, nothing new.
    advance(Duration::from_millis(50)).await;
    assert!(call(&mut svc, http::Request::new(())).is_err());
    assert_eq!(layer.handle().limited(), 15 + 50 + 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_wait_to_the_next_admission_rounded_up_on_the_wire() {
    let layer = limit(ten_per_second_burst_five(), KeySource::Global);
    let mut svc = layer.layer(bare());
    for _ in 0..5 {
        call(&mut svc, http::Request::new(())).unwrap();
    }
    advance(Duration::from_millis(30)).await;
    let refused = rejection(call(&mut svc, http::Request::new(())));
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(70)));
    let answer = refused.to_http_response(BodyFormat::Text);
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["retry-after"], "1");
    assert_eq!(answer.headers()[RATELIMIT_POLICY], "default;q=10;w=1");
    // Nothing left; the bucket is full again in 470 ms.
    assert_eq!(answer.headers()[RATELIMIT], "default;r=0;t=1");
    let quota = refused.quota().unwrap();
    assert_eq!(
        (quota.remaining, quota.reset),
        (0, Duration::from_millis(470))
    );

    // Waiting exactly the hint is enough.
    advance(Duration::from_millis(70)).await;
    call(&mut svc, http::Request::new(())).unwrap();

    // A long wait rounds up to whole seconds.
    let slow = limit(
        QuotaConfig::new(2, Duration::from_secs(5)).burst(1),
        KeySource::Global,
    );
    let mut svc = slow.layer(bare());
    call(&mut svc, http::Request::new(())).unwrap();
    advance(Duration::from_millis(400)).await;
    let refused = rejection(call(&mut svc, http::Request::new(())));
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(2_100)));
    let answer = refused.to_http_response(BodyFormat::Text);
    assert_eq!(answer.headers()["retry-after"], "3");
    assert_eq!(answer.headers()[RATELIMIT_POLICY], "default;q=2;w=5");
}

#[tokio::test(start_paused = true)]
async fn two_callers_with_separate_keys_do_not_affect_each_other() {
    let layer = limit(
        ten_per_second_burst_five(),
        KeySource::Header("x-api-key".into()),
    );
    let mut svc = layer.layer(bare());
    for _ in 0..100 {
        let _ = call(&mut svc, with_header("x-api-key", "greedy"));
    }
    for _ in 0..5 {
        call(&mut svc, with_header("x-api-key", "modest")).unwrap();
    }
    rejection(call(&mut svc, with_header("x-api-key", "modest")));
    advance(Duration::from_millis(100)).await;
    call(&mut svc, with_header("x-api-key", "modest")).unwrap();
    call(&mut svc, with_header("x-api-key", "greedy")).unwrap();
    assert_eq!(layer.handle().tracked_keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let layer = RateLimitLayer::builder()
        .configure(|c| c.quota = ten_per_second_burst_five())
        .key_forwarded(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    // A caller inventing a new address per request is still one caller.
    let results: Vec<bool> = (0..10)
        .map(|i| {
            let spoofed = format!("198.51.100.{i}");
            call(&mut svc, from_peer("203.0.113.9", Some(&spoofed))).is_ok()
        })
        .collect();
    assert_eq!(results.iter().filter(|ok| **ok).count(), 5);
    assert_eq!(
        layer.handle().tracked_keys(),
        1,
        "the peer address is the key"
    );
    // Its neighbour is untouched.
    call(&mut svc, from_peer("203.0.113.10", Some("198.51.100.0"))).unwrap();
}

#[tokio::test(start_paused = true)]
async fn through_a_trusted_proxy_chain_the_rightmost_untrusted_hop_is_the_key() {
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: ten_per_second_burst_five(),
        key: KeySource::Forwarded,
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..RateLimitConfig::default()
    })
    .unwrap();
    let mut svc = layer.layer(bare());
    // Client 198.51.100.7 behind two of our proxies, prefixing whatever it
    // likes: every request counts against 198.51.100.7.
    for i in 0..5 {
        let chain = format!("6.6.6.{i}, 198.51.100.7, 10.1.1.1");
        call(&mut svc, from_peer("10.0.0.1", Some(&chain))).unwrap();
    }
    rejection(call(
        &mut svc,
        from_peer("10.0.0.2", Some("7.7.7.7, 198.51.100.7, 10.1.1.1")),
    ));
    // Another client through the same proxies has its own quota.
    call(
        &mut svc,
        from_peer("10.0.0.1", Some("198.51.100.8, 10.1.1.1")),
    )
    .unwrap();
    // The proxy itself, without a forwarded header, is keyed as itself.
    call(&mut svc, from_peer("10.0.0.1", None)).unwrap();
    assert_eq!(layer.handle().tracked_keys(), 3);

    // The same from a `Forwarded` header, when that is what the proxies write.
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: ten_per_second_burst_five(),
        key: KeySource::Forwarded,
        trusted_proxies: vec!["10.0.0.0/8".into()],
        forwarded_header: ForwardedHeader::Forwarded,
        ..RateLimitConfig::default()
    })
    .unwrap();
    let mut svc = layer.layer(bare());
    for _ in 0..5 {
        let mut req = from_peer("10.0.0.1", Some("1.1.1.1"));
        req.headers_mut().insert(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\", for=10.1.1.1"
                .parse()
                .unwrap(),
        );
        call(&mut svc, req).unwrap();
    }
    let mut req = from_peer("10.0.0.1", None);
    req.headers_mut()
        .insert("forwarded", "for=\"[2001:db8::1]\"".parse().unwrap());
    rejection(call(&mut svc, req)); // same /64
}

#[tokio::test(start_paused = true)]
async fn a_million_distinct_keys_through_capacity_10_000_keep_tracked_keys_at_most_10_000() {
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: QuotaConfig::per_minute(1),
        key: KeySource::PeerIp,
        max_keys: 10_000,
        // The map's bounds are what this test is about: the quota shared
        // by keys without a slot is opened wide, so that far more new keys
        // than the map holds reach it (the hostile suite's `keyed_limits`
        // holds a key-rotating caller to that quota).
        new_keys: QuotaConfig::per_second(100_000),
        ..RateLimitConfig::default()
    })
    .unwrap();
    let mut svc = layer.layer(bare());
    let peer = |n: u32| {
        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(Ipv4Addr::from(n).into(), 1)));
        req
    };
    // One caller spends its quota before the flood.
    call(&mut svc, peer(7)).unwrap();
    for n in 1_000_000..2_000_000 {
        let _ = call(&mut svc, peer(n));
        if n % 100_000 == 0 {
            assert!(layer.handle().tracked_keys() <= 10_000);
        }
        if n == 1_500_000 {
            // Half way, a minute passes: buckets refill, and the flood
            // now evicts idle full buckets instead of overflowing.
            advance(Duration::from_secs(61)).await;
            call(&mut svc, peer(7)).unwrap();
        }
    }
    let stats = layer.handle().keyed_stats().unwrap();
    assert!(stats.len <= 10_000, "{stats:?}");
    assert_eq!(stats.capacity, 10_000);
    assert!(stats.overflowed > 0, "every slot live: new keys overflowed");
    assert!(stats.evicted > 0, "refilled keys were evicted");
    // The caller with spent quota was never evicted to make room.
    rejection(call(&mut svc, peer(7)));
}

#[tokio::test(start_paused = true)]
async fn a_full_map_of_spent_quotas_leaves_new_keys_to_the_new_keys_quota() {
    // Keys without a slot share the `new_keys` quota (no longer a map
    // overflow bucket holding one key's quota): three new keys a minute.
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: QuotaConfig::per_minute(1),
        key: KeySource::Header("x-api-key".into()),
        max_keys: 2,
        new_keys: QuotaConfig::per_minute(3),
        ..RateLimitConfig::default()
    })
    .unwrap();
    let mut svc = layer.layer(bare());
    call(&mut svc, with_header("x-api-key", "a")).unwrap();
    call(&mut svc, with_header("x-api-key", "b")).unwrap();
    // The map is full of spent quota: `c` passes on `new_keys` alone…
    call(&mut svc, with_header("x-api-key", "c")).unwrap();
    // …which `d` finds spent, while `a` keeps its spent quota.
    let refused = rejection(call(&mut svc, with_header("x-api-key", "d")));
    assert_eq!(&*refused.quota().unwrap().policy, "new_keys");
    let refused = rejection(call(&mut svc, with_header("x-api-key", "a")));
    assert_eq!(&*refused.quota().unwrap().policy, "default");
    assert_eq!(layer.handle().tracked_keys(), 2);
    assert_eq!(layer.handle().keyed_stats().unwrap().evicted, 0);
    assert_eq!(layer.handle().new_keys_limited(), 1);
}

#[tokio::test(start_paused = true)]
async fn state_is_shared_by_every_service_the_layer_builds() {
    let layer = limit(QuotaConfig::per_second(1).burst(3), KeySource::Global);
    // axum applies a route's layers per request: each call a new service.
    let admitted = (0..6)
        .filter(|_| call(&mut layer.clone().layer(bare()), http::Request::new(())).is_ok())
        .count();
    assert_eq!(admitted, 3);
}

#[tokio::test(start_paused = true)]
async fn a_tenant_override_is_its_own_class_in_answers_and_telemetry() {
    let sink = RecordingSink::new();
    let layer = RateLimitLayer::builder()
        .with_config(RateLimitConfig {
            key: KeySource::Header("x-tenant".into()),
            quota: QuotaConfig::per_second(1).burst(1),
            overrides: vec![
                QuotaOverride::new("premium", QuotaConfig::per_second(100).burst(10))
                    .keys(["acme"]),
            ],
            max_keys: 1,
            ..RateLimitConfig::default()
        })
        .name("api")
        .sink(sink.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    for _ in 0..10 {
        call(&mut svc, with_header("x-tenant", "acme")).unwrap();
    }
    let refused = rejection(call(&mut svc, with_header("x-tenant", "acme")));
    let quota = refused.quota().unwrap();
    assert_eq!((&*quota.policy, quota.limit), ("premium", 100));
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(10)));

    call(&mut svc, with_header("x-tenant", "initech")).unwrap();
    let refused = rejection(call(&mut svc, with_header("x-tenant", "initech")));
    assert_eq!(&*refused.quota().unwrap().policy, "default");
    assert_eq!(
        layer.handle().tracked_keys(),
        1,
        "override keys are held apart"
    );

    // Telemetry per class, never per raw key.
    let names: Vec<String> = sink
        .registered()
        .iter()
        .map(|id| id.name().to_owned())
        .collect();
    assert_eq!(names, ["api/default", "api/premium"]);
    let count = |name: &str, event: Event| sink.count(|id, e| id.name() == name && *e == event);
    assert_eq!(count("api/premium", Event::Admitted), 10);
    assert_eq!(
        count("api/premium", Event::Rejected(Reason::RateLimited)),
        1
    );
    assert_eq!(count("api/default", Event::Admitted), 1);
    assert_eq!(
        count("api/default", Event::Rejected(Reason::RateLimited)),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_counts_would_be_rejections_but_admits_everything() {
    let sink = RecordingSink::new();
    let layer = RateLimitLayer::builder()
        .configure(|c| {
            c.quota = ten_per_second_burst_five();
            c.mode = RateLimitMode::Shadow;
        })
        .name("trial")
        .sink(sink.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    for _ in 0..12 {
        call(&mut svc, http::Request::new(())).unwrap();
    }
    assert_eq!(layer.handle().limited(), 7);
    assert_eq!(
        sink.count(|id, e| id.name() == "trial/default/shadow"
            && *e == Event::Rejected(Reason::RateLimited)),
        7
    );
    assert_eq!(sink.count(|_, e| *e == Event::Admitted), 5);
}

#[tokio::test(start_paused = true)]
async fn a_request_can_cost_several_units() {
    let layer = RateLimitLayer::builder()
        .configure(|c| c.quota = ten_per_second_burst_five())
        .cost(|req| {
            req.headers
                .get("x-cost")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1)
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    call(&mut svc, with_header("x-cost", "4")).unwrap();
    let refused = rejection(call(&mut svc, with_header("x-cost", "2")));
    assert_eq!(refused.quota().unwrap().remaining, 1);
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));
    call(&mut svc, with_header("x-cost", "1")).unwrap();
    // More than a whole burst is never admissible: no retry hint.
    let refused = rejection(call(&mut svc, with_header("x-cost", "6")));
    assert_eq!(refused.retry_after(), None);
}

#[tokio::test(start_paused = true)]
async fn the_request_context_start_serves_as_now() {
    let layer = limit(QuotaConfig::per_second(1).burst(1), KeySource::Global);
    let mut svc = layer.layer(bare());
    let start = Instant::now();
    let in_context = |at: Instant| {
        let mut req = http::Request::new(());
        req.extensions_mut().insert(RequestContext::new(at));
        req
    };
    call(&mut svc, in_context(start)).unwrap();
    advance(Duration::from_secs(5)).await;
    // Started before the quota came back: judged at its start.
    rejection(call(
        &mut svc,
        in_context(start + Duration::from_millis(500)),
    ));
    call(&mut svc, in_context(start + Duration::from_secs(1))).unwrap();
}

#[tokio::test(start_paused = true)]
async fn keys_by_route_template_and_by_function() {
    #[derive(Clone)]
    struct Matched(&'static str);
    let routed = |template: &'static str| {
        let mut req = http::Request::new(());
        req.extensions_mut().insert(Matched(template));
        req
    };
    let layer = RateLimitLayer::builder()
        .configure(|c| c.quota = QuotaConfig::per_second(1).burst(1))
        .key_route(|m: &Matched| m.0)
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    call(&mut svc, routed("/users/{id}")).unwrap();
    rejection(call(&mut svc, routed("/users/{id}")));
    call(&mut svc, routed("/orders/{id}")).unwrap();

    let layer = RateLimitLayer::builder()
        .configure(|c| c.quota = QuotaConfig::per_second(1).burst(1))
        .key_fn(|req| {
            req.uri
                .path()
                .split('/')
                .nth(1)
                .map(|s| std::borrow::Cow::Borrowed(s.as_bytes()))
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    let get = |path: &str| http::Request::get(path).body(()).unwrap();
    call(&mut svc, get("/v1/a")).unwrap();
    rejection(call(&mut svc, get("/v1/b")));
    call(&mut svc, get("/v2/a")).unwrap();
}

#[tokio::test(start_paused = true)]
async fn oneshot_per_request_counts_against_one_quota() {
    let layer = limit(QuotaConfig::per_second(2).burst(2), KeySource::Global);
    let svc = layer.layer(bare());
    let mut ok = 0;
    for _ in 0..4 {
        if svc.clone().oneshot(http::Request::new(())).await.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 2);
}

#[test]
fn builds_from_the_default_config_and_the_builder_under_one_name_rule() {
    let from_config = RateLimitLayer::from_config(&RateLimitConfig::default()).unwrap();
    assert_eq!(from_config.handle().id().name(), "rate_limit");
    assert_eq!(from_config.handle().id().kind(), LayerKind::RateLimit);
    assert_eq!(from_config.handle().config(), RateLimitConfig::default());

    let sink = RecordingSink::new();
    let env = BuildEnv::named("gateway").with_sink(sink.clone());
    let in_env = RateLimitConfig::default().build_in(&env).unwrap();
    assert_eq!(in_env.handle().id().name(), "gateway");
    let built = RateLimitLayer::builder()
        .name("search")
        .env(env)
        .configure(|c| c.mode = RateLimitMode::Shadow)
        .build()
        .unwrap();
    assert_eq!(built.handle().id().name(), "search", "its own name first");
    assert_eq!(built.handle().config().mode, RateLimitMode::Shadow);
    // Each class reports under the layer's name.
    assert_eq!(
        sink.registered()
            .iter()
            .map(|id| id.name().to_owned())
            .collect::<Vec<_>>(),
        ["gateway/default", "search/default/shadow"]
    );

    // A key function is not data: a config naming one cannot build alone.
    let custom = RateLimitConfig {
        key: KeySource::Custom,
        ..RateLimitConfig::default()
    };
    assert_eq!(custom.validate().unwrap_err().field(), "key");
    assert_eq!(
        RateLimitLayer::from_config(&custom).unwrap_err().field(),
        "key"
    );
    let too_long = RateLimitConfig {
        quota: QuotaConfig::new(1, Duration::from_secs(2 * 86_400)),
        ..RateLimitConfig::default()
    };
    assert_eq!(too_long.validate().unwrap_err().field(), "quota.period");
}

#[test]
fn the_config_loads_from_data() {
    let config: RateLimitConfig = serde_json::from_str(
        r#"{
            "name": "public",
            "key": { "header": "x-api-key" },
            "quota": { "limit": 10, "period": "1s", "burst": 5 },
            "overrides": [
                { "class": "partner", "keys": ["k-1"], "quota": { "limit": 100, "period": "1m", "burst": 100 } }
            ],
            "max_keys": 5000,
            "mode": "shadow"
        }"#,
    )
    .unwrap();
    assert_eq!(config.key, KeySource::Header("x-api-key".into()));
    assert_eq!(config.quota, ten_per_second_burst_five());
    assert_eq!(config.overrides[0].quota.period, Duration::from_secs(60));
    let layer = RateLimitLayer::from_config(&config).unwrap();
    assert_eq!(layer.handle().config().max_keys, 5000);

    let forwarded: RateLimitConfig = serde_json::from_str(
        r#"{ "key": "forwarded", "trusted_proxies": ["10.0.0.0/8"], "forwarded_header": "forwarded" }"#,
    )
    .unwrap();
    assert_eq!(forwarded.forwarded_header, ForwardedHeader::Forwarded);
    RateLimitLayer::from_config(&forwarded).unwrap();
    let err = serde_json::from_str::<RateLimitConfig>(r#"{ "quota": { "limit": 1 } }"#);
    assert!(err.is_err());
}

/// A limit of 10 a second (burst 5) per `x-api-key`, `max_keys` keys, new
/// keys sharing 20 a second (burst 20).
fn rotation_limit(max_keys: usize) -> RateLimitLayer {
    RateLimitLayer::from_config(&RateLimitConfig {
        quota: ten_per_second_burst_five(),
        key: KeySource::Header("x-api-key".into()),
        max_keys,
        new_keys: QuotaConfig::per_second(20),
        keep_idle: Duration::from_secs(60),
        ..RateLimitConfig::default()
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_caller_rotating_keys_gets_the_new_keys_quota_and_no_more() {
    let layer = rotation_limit(1_000);
    let mut svc = layer.layer(bare());
    let mut admitted = 0;
    let mut next = 0u32;
    // 10 seconds of 1,000 requests a second, each with a key never seen.
    for step in 0..100 {
        if step > 0 {
            advance(Duration::from_millis(100)).await;
        }
        for _ in 0..100 {
            next += 1;
            if call(&mut svc, with_header("x-api-key", &format!("rot-{next}"))).is_ok() {
                admitted += 1;
            }
        }
    }
    // The burst of 20, then 20 a second: not 5 per invented key.
    assert!((200..=220).contains(&admitted), "{admitted} admitted");
    let refused = rejection(call(&mut svc, with_header("x-api-key", "rot-new")));
    let quota = refused.quota().unwrap();
    assert_eq!((&*quota.policy, quota.limit), ("new_keys", 20));
    assert!(refused.retry_after().unwrap() <= Duration::from_millis(50));
    assert_eq!(layer.handle().new_keys_limited(), 10_000 - admitted + 1);
}

#[tokio::test(start_paused = true)]
async fn keys_with_a_slot_keep_their_quota_through_a_rotation_flood() {
    let layer = rotation_limit(64);
    let mut svc = layer.layer(bare());
    // Two callers known before the flood, each seen more than once.
    for key in ["steady", "quiet"] {
        for _ in 0..3 {
            call(&mut svc, with_header("x-api-key", key)).unwrap();
        }
    }
    advance(Duration::from_secs(1)).await;
    // 30 s of a flood of invented keys, far more than the map holds:
    // `steady` keeps calling within its quota, `quiet` is idle.
    let mut next = 0u32;
    for second in 0..30 {
        for _ in 0..10 {
            advance(Duration::from_millis(100)).await;
            for _ in 0..50 {
                next += 1;
                let _ = call(&mut svc, with_header("x-api-key", &format!("rot-{next}")));
            }
        }
        call(&mut svc, with_header("x-api-key", "steady"))
            .unwrap_or_else(|_| panic!("steady refused at {second} s"));
        assert!(layer.handle().tracked_keys() <= 64);
    }
    let stats = layer.handle().keyed_stats().unwrap();
    assert!(stats.evicted > 0, "invented keys made room: {stats:?}");
    // The idle caller still has its slot and its whole burst.
    for _ in 0..5 {
        call(&mut svc, with_header("x-api-key", "quiet")).unwrap();
    }
    rejection(call(&mut svc, with_header("x-api-key", "quiet")));
    // A new caller is refused while the flood drains `new_keys`…
    rejection(call(&mut svc, with_header("x-api-key", "newcomer")));
    // …and admitted, with a slot of its own, once it stops.
    advance(Duration::from_millis(50)).await;
    for _ in 0..5 {
        call(&mut svc, with_header("x-api-key", "newcomer")).unwrap();
    }
    let refused = rejection(call(&mut svc, with_header("x-api-key", "newcomer")));
    assert_eq!(&*refused.quota().unwrap().policy, "default");
}

#[tokio::test(start_paused = true)]
async fn a_returning_key_idle_past_keep_idle_may_make_room() {
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: ten_per_second_burst_five(),
        key: KeySource::Header("x-api-key".into()),
        max_keys: 2,
        keep_idle: Duration::from_secs(10),
        ..RateLimitConfig::default()
    })
    .unwrap();
    let mut svc = layer.layer(bare());
    for key in ["a", "a", "b", "b"] {
        call(&mut svc, with_header("x-api-key", key)).unwrap();
    }
    // Refilled, but both came back: kept, so `c` has no slot of its own.
    advance(Duration::from_secs(1)).await;
    call(&mut svc, with_header("x-api-key", "c")).unwrap();
    assert_eq!(layer.handle().keyed_stats().unwrap().evicted, 0);
    // Idle past `keep_idle`: they make room.
    advance(Duration::from_secs(10)).await;
    call(&mut svc, with_header("x-api-key", "c")).unwrap();
    assert!(layer.handle().keyed_stats().unwrap().evicted > 0);
    assert_eq!(layer.handle().tracked_keys(), 2);
}

#[test]
fn new_keys_and_keep_idle_load_from_data() {
    let config: RateLimitConfig = serde_json::from_str(
        r#"{
            "key": "peer_ip",
            "new_keys": { "limit": 50, "period": "1s", "burst": 100 },
            "keep_idle": "5m"
        }"#,
    )
    .unwrap();
    assert_eq!(config.new_keys, QuotaConfig::per_second(50).burst(100));
    assert_eq!(config.keep_idle, Duration::from_secs(300));
    let defaults = RateLimitConfig::default();
    assert_eq!(
        defaults.new_keys,
        QuotaConfig::per_second(1_000).burst(10_000)
    );
    assert_eq!(defaults.keep_idle, Duration::from_secs(60));
    let bad = RateLimitConfig {
        new_keys: QuotaConfig::per_second(1).burst(0),
        ..RateLimitConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().field(), "new_keys.burst");
}
