//! (3) Keyed limits: a caller inventing keys.
//!
//! Reproduced against an earlier Buttress: a keyed bulkhead with 1,032
//! requests held open on distinct keys refused every new tenant (its key
//! map full of busy keys, new keys shared one overflow bulkhead of a
//! single key's size); a rate limiter keyed by API key gave a caller
//! rotating keys ~100k admissions a second against a 10/s per-key quota
//! (every invented key brought a fresh burst), and afterwards refused a
//! new legitimate key (new keys shared one overflow bucket, which the
//! flood kept drained).
//!
//! Now a keyed bulkhead caps the calls in flight or queued across every
//! key (`max_total`, default `max_keys × max_concurrent`), and below the
//! cap a new tenant is always admitted: a busy key is never evicted, so
//! once every tracked key is busy new keys share an overflow bulkhead
//! only the cap limits (with `max_total ≤ max_keys` every tenant has one
//! of its own); at the cap every call is refused alike with
//! `BulkheadFull`. And a rate limiter decides
//! every request whose key has no slot against one aggregate quota,
//! `new_keys`: a rotating caller gets that much in all, keys that had a
//! slot before the flood keep their own quota (a key seen more than once
//! keeps its slot for `keep_idle`), and once the flood stops new callers
//! are admitted again as `new_keys` refills and the invented keys' slots
//! age out. Deterministic: tokio's paused clock, keys counted out in
//! order.

use std::convert::Infallible;
use std::time::Duration;

use buttress::core::layer::LayerBuilder;
use buttress::core::{BoxError, Reason, Rejected};
use buttress::limit::rate::{KeySource, QuotaConfig, RateLimitConfig, RateLimitLayer};
use buttress::limit::{BulkheadConfig, BulkheadLayer};
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<()>;

fn from(key: &str) -> Req {
    http::Request::get("/")
        .header("x-key", key)
        .body(())
        .unwrap()
}

fn refusal(err: &BoxError) -> &Rejected {
    Rejected::find(&**err).expect("a typed rejection")
}

/// A tenant's calls, each held open while its future is: the bulkhead
/// takes its slot in `call`, so an unpolled future holds it.
fn tenants(
    config: BulkheadConfig,
) -> (
    impl Service<
        Req,
        Response = (),
        Error = BoxError,
        Future = impl Future<Output = Result<(), BoxError>>,
    > + Clone,
    buttress::limit::KeyedBulkheadHandle<http::HeaderValue>,
) {
    let layer = BulkheadLayer::builder()
        .with_config(config)
        .name("tenants")
        .build_keyed(|req: &Req| req.headers()["x-key"].clone())
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(tower::service_fn(|_req: Req| async {
        Ok::<_, Infallible>(())
    }));
    (svc, handle)
}

#[tokio::test(start_paused = true)]
async fn calls_held_open_on_many_keys_no_longer_shut_new_tenants_out() {
    // The finding's layer: 8 calls per key, the other settings at their
    // defaults (1,024 keys; the cap across keys 1,024 × 8).
    let config = BulkheadConfig {
        max_concurrent: 8,
        ..BulkheadConfig::default()
    };
    assert_eq!(
        (config.max_keys, config.effective_max_total()),
        (1_024, 8_192)
    );
    let (mut svc, handle) = tenants(config);

    // The attack: 1,032 calls held open, one per invented key — every
    // tracked key busy, and what overflowed before was one key's 8 —
    // and 10,000 short calls on new keys besides.
    let mut held = Vec::new();
    for i in 0..1_032 {
        held.push(
            svc.ready()
                .await
                .unwrap()
                .call(from(&format!("attacker-{i}"))),
        );
    }
    for i in 0..10_000 {
        let call = svc.ready().await.unwrap().call(from(&format!("churn-{i}")));
        call.await.unwrap();
    }
    assert_eq!(handle.total(), 1_032);
    assert!(handle.tracked_keys() <= 1_024);

    // Every new tenant is still admitted.
    let mut tenants = Vec::new();
    for i in 0..100 {
        tenants.push(
            svc.ready()
                .await
                .unwrap()
                .call(from(&format!("tenant-{i}"))),
        );
        assert_eq!(handle.total(), 1_033 + i, "tenant {i} admitted");
    }
    drop(held);
    drop(tenants);
    assert_eq!(handle.total(), 0);
    println!(
        "keyed bulkhead: 1,032 keys held open + 10,000 churned: 100 of 100 new tenants admitted \
         (cap {})",
        handle.max_total()
    );
}

#[tokio::test(start_paused = true)]
async fn at_a_stated_cap_every_call_is_refused_alike_and_below_it_each_tenant_has_its_own() {
    // A cap no higher than the key map: every key gets a bulkhead of its
    // own, and the cap is the only thing a caller can run into.
    let (mut svc, handle) = tenants(BulkheadConfig {
        max_concurrent: 8,
        max_keys: 4_096,
        max_total: Some(2_048),
        ..BulkheadConfig::default()
    });
    let mut held = Vec::new();
    for i in 0..2_047 {
        held.push(
            svc.ready()
                .await
                .unwrap()
                .call(from(&format!("attacker-{i}"))),
        );
    }
    let tenant = svc.ready().await.unwrap().call(from("tenant"));
    assert_eq!(
        handle.in_flight_of(&http::HeaderValue::from_static("tenant")),
        1
    );
    assert_eq!(handle.total(), 2_048);

    // At the cap: refused at once, typed, with a retry hint, "never sent";
    // a new key and a key with free slots of its own alike.
    for key in ["late", "attacker-0"] {
        let err = svc
            .ready()
            .await
            .unwrap()
            .call(from(key))
            .await
            .unwrap_err();
        let rejected = refusal(&err);
        assert_eq!(rejected.reason(), Reason::BulkheadFull);
        assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
        assert!(!rejected.was_sent());
    }
    // One call ends: the late tenant gets in, in a bulkhead of its own.
    drop(held.pop());
    let late = svc.ready().await.unwrap().call(from("late"));
    assert_eq!(
        handle.in_flight_of(&http::HeaderValue::from_static("late")),
        1
    );
    drop((held, tenant, late));
    assert_eq!(handle.total(), 0);
}

/// What a flood of invented keys got, and how a steady caller fared
/// through it.
#[derive(Debug, Default)]
struct Flood {
    sent: u64,
    admitted: u64,
    steady_sent: u64,
    steady_refused: u64,
}

/// Sends `per_step` requests with never-seen keys every 10 ms for
/// `steps` steps (the clock moves before each step but the first, so the
/// last step leaves the shared quota drained), and a request from
/// `steady`, if given, every 100 ms.
async fn flood<S>(svc: &mut S, steps: u32, per_step: u32, steady: Option<&str>) -> Flood
where
    S: Service<Req, Error = BoxError>,
{
    let mut flood = Flood::default();
    for step in 0..steps {
        if step > 0 {
            advance(Duration::from_millis(10)).await;
        }
        for i in 0..per_step {
            flood.sent += 1;
            if send(svc, &format!("rot-{step}-{i}")).await.is_ok() {
                flood.admitted += 1;
            }
        }
        if let Some(key) = steady
            && step % 10 == 0
        {
            flood.steady_sent += 1;
            if send(svc, key).await.is_err() {
                flood.steady_refused += 1;
            }
        }
    }
    flood
}

/// `ready` + `call` + `await`, for a key.
async fn send<S: Service<Req, Error = BoxError>>(
    svc: &mut S,
    key: &str,
) -> Result<S::Response, BoxError> {
    svc.ready().await.unwrap().call(from(key)).await
}

/// The policy a rate-limit refusal advertises.
fn policy(err: &BoxError) -> String {
    let rejected = refusal(err);
    assert_eq!(rejected.reason(), Reason::RateLimited);
    rejected.quota().unwrap().policy.to_string()
}

#[tokio::test(start_paused = true)]
async fn a_key_rotating_flood_gets_the_new_keys_quota_and_spares_known_keys() {
    // The finding's quota (10 a second per key) with a stated ceiling for
    // keys without a slot: 100 a second, burst 100.
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        key: KeySource::Header("x-key".into()),
        quota: QuotaConfig::per_second(10),
        // Fewer slots than the flood's admitted keys, so they must make
        // room — and the keys known before it must not be what goes.
        max_keys: 1_000,
        new_keys: QuotaConfig::per_second(100),
        ..RateLimitConfig::default()
    })
    .unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(tower::service_fn(|_req: Req| async {
        Ok::<_, Infallible>(())
    }));

    // Before the flood: one caller keeps calling, one has called and gone
    // quiet, both with quota left.
    for key in ["steady", "steady", "quiet", "quiet", "quiet"] {
        send(&mut svc, key).await.unwrap();
    }
    advance(Duration::from_secs(1)).await;

    // 10 s at 10,000 requests a second, every one a new key; `steady`
    // calls every 100 ms all along.
    let result = flood(&mut svc, 1_000, 100, Some("steady")).await;
    // A new caller during the flood shares the drained ceiling…
    let err = send(&mut svc, "newcomer").await.unwrap_err();
    assert_eq!(policy(&err), "new_keys");

    // The ceiling: the burst of 100, then 100 a second for 10 s.
    let ceiling = 100 + 100 * 10;
    println!(
        "rate limit: {} rotating requests over 10 s, {} admitted (ceiling {ceiling}, \
         10/s per key); steady refused {} of {}; {} keys tracked, {} refused on new_keys",
        result.sent,
        result.admitted,
        result.steady_refused,
        result.steady_sent,
        handle.tracked_keys(),
        handle.new_keys_limited(),
    );
    assert!(result.admitted <= ceiling, "{result:?}");
    assert!(result.admitted >= ceiling - 20, "{result:?}");
    assert_eq!(
        result.steady_refused, 0,
        "a key known before the flood kept its quota"
    );
    // The quiet caller kept its slot and its whole burst through it.
    for _ in 0..10 {
        send(&mut svc, "quiet").await.unwrap();
    }
    assert_eq!(
        policy(&send(&mut svc, "quiet").await.unwrap_err()),
        "default"
    );
    // …and is admitted, with a quota of its own, once the flood stops.
    advance(Duration::from_millis(10)).await;
    for _ in 0..10 {
        send(&mut svc, "newcomer").await.unwrap();
    }
    assert_eq!(
        policy(&send(&mut svc, "newcomer").await.unwrap_err()),
        "default"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_flood_fills_the_map_with_spent_keys_a_new_caller_gets_in() {
    // A slow per-key quota (10 a minute): each invented key stays spent
    // for 6 s, far more of them than the map holds.
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        key: KeySource::Header("x-key".into()),
        quota: QuotaConfig::per_minute(10),
        max_keys: 256,
        new_keys: QuotaConfig::per_second(100),
        ..RateLimitConfig::default()
    })
    .unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(tower::service_fn(|_req: Req| async {
        Ok::<_, Infallible>(())
    }));
    for _ in 0..3 {
        send(&mut svc, "known").await.unwrap();
    }
    let result = flood(&mut svc, 500, 100, None).await;
    let stats = handle.keyed_stats().unwrap();
    assert!(stats.len <= 256 && stats.overflowed > 0, "{stats:?}");
    assert!(result.admitted <= 100 + 100 * 5, "{result:?}");

    // The flood stops: the known caller still has its quota, and a new
    // one is admitted as soon as `new_keys` refills — at first on that
    // alone, the map still full of the flood's spent keys…
    send(&mut svc, "known").await.unwrap();
    advance(Duration::from_millis(10)).await;
    send(&mut svc, "newcomer").await.unwrap();
    // …then with a slot of its own once they have refilled.
    advance(Duration::from_secs(7)).await;
    for _ in 0..10 {
        send(&mut svc, "newcomer").await.unwrap();
    }
    assert_eq!(
        policy(&send(&mut svc, "newcomer").await.unwrap_err()),
        "default"
    );
    println!(
        "rate limit, map full of spent keys: {} of {} rotating requests admitted over 5 s; \
         a new caller admitted 10 ms after the flood",
        result.admitted, result.sent
    );
}
