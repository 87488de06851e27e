//! The layer contract (ARCHITECTURE.md, "The layer contract"): every
//! layer builds from its default config and from its builder, reports
//! under the name its config, its environment or its kind gives it, and
//! hands out a handle that says so.

#![cfg(all(feature = "stack", feature = "chaos"))]

use buttress::core::telemetry::{LayerKind, RecordingSink};
use buttress::prelude::*;

/// Builds `C::default()` three ways and checks each layer's identity.
fn check<C, H>(kind: LayerKind, handle: impl Fn(&C::Layer) -> H)
where
    C: LayerConfig + Default,
    H: LayerHandle,
{
    let by_kind = C::default()
        .build()
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    assert_eq!(handle(&by_kind).id().kind(), kind);
    assert_eq!(handle(&by_kind).id().name(), kind.as_str());

    let env = BuildEnv::named("shop").with_sink(RecordingSink::new());
    let by_env = C::default().build_in(&env).unwrap();
    assert_eq!(handle(&by_env).id().name(), "shop");

    let mut named = C::default();
    *named.name_mut() = Some("own".into());
    let own = named.build_in(&env).unwrap();
    assert_eq!(handle(&own).id().name(), "own", "a config's own name wins");
}

/// Builds the default layer from its builder, named.
fn check_builder<B, L, H>(
    kind: LayerKind,
    builder: B,
    build: impl Fn(B) -> L,
    handle: impl Fn(&L) -> H,
) where
    B: LayerBuilder,
    H: LayerHandle,
{
    let layer = build(builder.name("built").sink(RecordingSink::new()));
    assert_eq!(handle(&layer).id().kind(), kind);
    assert_eq!(handle(&layer).id().name(), "built");
}

/// The default fallback config with the default answer.
#[derive(Clone)]
struct FallbackWithAnswer(FallbackConfig);

impl Default for FallbackWithAnswer {
    fn default() -> Self {
        FallbackWithAnswer(FallbackConfig {
            response: Some(buttress::fallback::FallbackResponse::default()),
            ..FallbackConfig::default()
        })
    }
}

impl LayerConfig for FallbackWithAnswer {
    type Layer = FallbackLayer;

    fn validate(&self) -> Result<(), buttress::core::config::ConfigError> {
        self.0.validate()
    }

    fn name_mut(&mut self) -> &mut Option<String> {
        self.0.name_mut()
    }

    fn build_in(
        &self,
        env: &BuildEnv,
    ) -> Result<FallbackLayer, buttress::core::config::ConfigError> {
        self.0.build_in(env)
    }
}

#[test]
fn every_layer_builds_from_its_default_config() {
    check::<TimeoutConfig, _>(LayerKind::Timeout, TimeoutLayer::handle);
    check::<BreakerConfig, _>(LayerKind::Breaker, CircuitBreakerLayer::handle);
    check::<BulkheadConfig, _>(LayerKind::Bulkhead, |l: &BulkheadLayer| l.handle());
    check::<AdaptiveLimitConfig, _>(LayerKind::AdaptiveLimit, AdaptiveLimitLayer::handle);
    check::<ShedConfig, _>(LayerKind::Shed, LoadShedLayer::handle);
    check::<ThrottleConfig, _>(LayerKind::Throttle, ThrottleLayer::handle);
    check::<RateLimitConfig, _>(LayerKind::RateLimit, RateLimitLayer::handle);
    check::<RetryConfig, _>(LayerKind::Retry, RetryLayer::handle);
    // A fallback with nothing to answer is a mistake its config refuses,
    // so its "default" here is the default answer (an empty 200).
    check::<FallbackWithAnswer, _>(LayerKind::Fallback, FallbackLayer::handle);
    check::<ChaosConfig, _>(LayerKind::Chaos, ChaosLayer::handle);
    check::<ServerContextConfig, _>(LayerKind::Context, ServerContextLayer::handle);
    check::<ClientContextConfig, _>(LayerKind::Context, ClientContextLayer::handle);
    #[cfg(feature = "balance")]
    check::<BalanceConfig, _>(LayerKind::Balance, BalanceLayer::handle);
    check::<RedConfig, _>(LayerKind::Red, RedLayer::handle);
}

#[test]
fn every_layer_builds_from_its_builder() {
    check_builder(
        LayerKind::Timeout,
        TimeoutLayer::builder(),
        |b| b.build().unwrap(),
        TimeoutLayer::handle,
    );
    check_builder(
        LayerKind::Breaker,
        CircuitBreakerLayer::builder(),
        |b| b.build().unwrap(),
        CircuitBreakerLayer::handle,
    );
    check_builder(
        LayerKind::Bulkhead,
        BulkheadLayer::builder(),
        |b| b.build().unwrap(),
        |l: &BulkheadLayer| l.handle(),
    );
    check_builder(
        LayerKind::AdaptiveLimit,
        AdaptiveLimitLayer::builder(),
        |b| b.build().unwrap(),
        AdaptiveLimitLayer::handle,
    );
    check_builder(
        LayerKind::Shed,
        LoadShedLayer::builder(),
        |b| b.build().unwrap(),
        LoadShedLayer::handle,
    );
    check_builder(
        LayerKind::Throttle,
        ThrottleLayer::builder(),
        |b| b.build().unwrap(),
        ThrottleLayer::handle,
    );
    check_builder(
        LayerKind::RateLimit,
        RateLimitLayer::builder(),
        |b| b.build().unwrap(),
        RateLimitLayer::handle,
    );
    check_builder(
        LayerKind::Retry,
        RetryLayer::builder(),
        |b| b.build().unwrap(),
        RetryLayer::handle,
    );
    check_builder(
        LayerKind::Fallback,
        FallbackLayer::builder().respond_with(http::Response::new("")),
        |b| b.build().unwrap(),
        FallbackLayer::handle,
    );
    check_builder(
        LayerKind::Chaos,
        ChaosLayer::builder(),
        |b| b.build().unwrap(),
        ChaosLayer::handle,
    );
    check_builder(
        LayerKind::Context,
        ServerContextLayer::builder(),
        |b| b.build().unwrap(),
        ServerContextLayer::handle,
    );
    check_builder(
        LayerKind::Context,
        ClientContextLayer::builder(),
        |b| b.build().unwrap(),
        ClientContextLayer::handle,
    );
    check_builder(
        LayerKind::Red,
        RedLayer::builder(),
        |b| b.build().unwrap(),
        RedLayer::handle,
    );
    #[cfg(feature = "balance")]
    check_builder(
        LayerKind::Balance,
        BalanceLayer::builder(),
        |b| b.build().unwrap(),
        BalanceLayer::handle,
    );
}

#[test]
fn every_layer_refuses_a_bad_value_naming_the_field() {
    use std::time::Duration;
    let too_long = Duration::from_secs(86_400 * 2);
    let err = TimeoutLayer::builder()
        .configure(|c| c.limit = Some(too_long))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "limit");
    let err = CircuitBreakerLayer::builder()
        .configure(|c| c.wait = Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "wait");
    let err = RetryLayer::builder()
        .configure(|c| c.max_attempts = 0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_attempts");
    let err = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_concurrent");
}
