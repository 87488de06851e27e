//! A distributed rate limit keyed by `x-tenant` over a do-nothing
//! service, and one request through it: what the Redis tests build on.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use buttress_core::layer::LayerBuilder;
use buttress_core::{BoxError, Reason, Rejected};
use buttress_limit::rate::{
    KeySource, QuotaConfig, RateLimitConfig, RateLimitHandle, RateLimitLayer, RedisRateConfig,
};
use tower::util::BoxService;
use tower::{Service, ServiceBuilder, ServiceExt};

pub type Svc = BoxService<http::Request<()>, (), BoxError>;

/// A rate-limited service keyed by `x-tenant`, `quota` per tenant,
/// distributed with `redis`; `tune` adjusts the rest of the config (the
/// Redis part through [`redis_of`]).
pub fn tenant_limiter(
    redis: RedisRateConfig,
    name: &str,
    quota: QuotaConfig,
    tune: impl FnOnce(&mut RateLimitConfig),
) -> (Svc, RateLimitHandle) {
    let layer = RateLimitLayer::builder()
        .configure(|c| {
            c.key = KeySource::Header("x-tenant".into());
            c.quota = quota;
            c.distributed = Some(redis);
            tune(c);
        })
        .name(name)
        .build()
        .expect("a valid config builds (building connects nothing)");
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(()) });
    (BoxService::new(svc), handle)
}

/// The Redis settings of a config [`tenant_limiter`] made.
pub fn redis_of(config: &mut RateLimitConfig) -> &mut RedisRateConfig {
    config.distributed.as_mut().expect("distributed")
}

/// Sends one request for `tenant`: `None` if admitted, else its refusal —
/// which must be the typed rate-limit rejection with quota figures, never
/// another error (nothing may fail because of Redis) — and how long the
/// limiter took to decide.
pub async fn send(svc: &mut Svc, tenant: &str) -> (Option<Rejected>, Duration) {
    let request = http::Request::get("/")
        .header("x-tenant", tenant)
        .body(())
        .unwrap();
    let start = Instant::now();
    let result = svc.ready().await.unwrap().call(request).await;
    let took = start.elapsed();
    match result {
        Ok(()) => (None, took),
        Err(err) => {
            let rejected = Rejected::find(&*err)
                .unwrap_or_else(|| panic!("a request failed, not as a refusal: {err}"));
            assert_eq!(rejected.reason(), Reason::RateLimited);
            assert!(rejected.quota().is_some(), "refusals carry quota figures");
            (Some(rejected.clone()), took)
        }
    }
}
