//! `a.toml` and `b.toml`, written in code: what the demo uses when built
//! without the `serde` feature (the crate's default features), so that
//! `cargo run --example cascade` needs no flag. `tests/cascade.rs` checks
//! these equal what the TOML files load to; change both together.

use std::time::Duration;

use buttress::breaker::{BreakerConfig, WindowConfig};
use buttress::context::ServerContextConfig;
use buttress::context::server::TrustConfig;
use buttress::fallback::{FallbackConfig, FallbackResponse};
use buttress::limit::rate::{KeySource, QuotaConfig, RateLimitConfig};
use buttress::limit::{AdaptiveLimitConfig, ShedConfig};
use buttress::retry::{BackoffConfig, RetryConfig};
use buttress::stack::{ClientStack, ClientStackConfig, ServerStack, Toggle};

use super::config::Service;

fn trusting_loopback() -> ServerContextConfig {
    ServerContextConfig {
        trust: TrustConfig::Peers(vec!["127.0.0.1/32".into()]),
        ..ServerContextConfig::default()
    }
}

fn breaker(window: u32) -> BreakerConfig {
    BreakerConfig {
        window: WindowConfig::Count { size: window },
        minimum_calls: 10,
        wait: Duration::from_millis(500),
        permitted_probes: 3,
        ..BreakerConfig::default()
    }
}

/// `a.toml`.
pub fn a() -> Service {
    let server = ServerStack::new("a")
        .timeout(Duration::from_secs(1))
        .adaptive_limit(Toggle::Off)
        .shed(Toggle::Off)
        .context(trusting_loopback())
        .rate_limit(RateLimitConfig {
            key: KeySource::Header("x-api-key".into()),
            quota: QuotaConfig::per_second(50).burst(10),
            ..RateLimitConfig::default()
        });
    let client = ClientStackConfig {
        timeout: Toggle::On(Duration::from_millis(500).into()),
        retry: Toggle::On(RetryConfig {
            max_attempts: 2,
            backoff: BackoffConfig {
                base: Duration::from_millis(10),
                max: Duration::from_millis(100),
                ..BackoffConfig::default()
            },
            max_retry_after: Duration::from_millis(100),
            ..RetryConfig::default()
        }),
        breaker: Toggle::On(breaker(50)),
        ..ClientStackConfig::default()
    };
    Service {
        server,
        client: ClientStack::from_config("b", client),
    }
}

/// `b.toml`.
pub fn b() -> Service {
    let server = ServerStack::new("b")
        .timeout(Duration::from_secs(1))
        .context(trusting_loopback())
        .shed(ShedConfig {
            retry_after: Duration::from_secs(1),
            ..ShedConfig::default()
        })
        .adaptive_limit(AdaptiveLimitConfig {
            max_wait: Duration::from_millis(300),
            codel_target: Duration::from_millis(100),
            ..AdaptiveLimitConfig::default()
        });
    let client = ClientStackConfig {
        timeout: Toggle::On(Duration::from_millis(50).into()),
        retry: Toggle::Off,
        breaker: Toggle::On(breaker(20)),
        fallback: Some(FallbackConfig {
            response: Some(FallbackResponse::default()),
            ..FallbackConfig::default()
        }),
        ..ClientStackConfig::default()
    };
    Service {
        server,
        client: ClientStack::from_config("c", client),
    }
}
