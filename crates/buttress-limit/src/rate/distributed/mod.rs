//! Fleet-wide rate limits: the quota state in Redis, leased to replicas.
//!
//! See the [`rate`](crate::rate#fleet-wide-limits-on-redis) module
//! documentation for the design; each file here holds one part of it:
//! `config.rs` the settings, `script.rs` the Lua script (GCRA, and why),
//! `lease.rs` one key's lease, `engine.rs` the shared machinery and the
//! refill task, `client.rs` the connection, `health.rs` the breaker
//! around Redis, `decide.rs` the decision, `stats.rs` the handle's
//! counters.

mod config;
mod stats;

#[cfg(feature = "redis")]
mod client;
#[cfg(feature = "redis")]
mod decide;
#[cfg(feature = "redis")]
mod engine;
#[cfg(feature = "redis")]
mod health;
#[cfg(feature = "redis")]
mod lease;
#[cfg(feature = "redis")]
mod script;

pub use self::config::{RedisFallback, RedisRateConfig, RedisTlsConfig};
pub use self::stats::DistributedStats;

#[cfg(feature = "redis")]
pub(crate) use self::decide::Distributed;
#[cfg(feature = "redis")]
pub(crate) use self::engine::Engine;

/// The error for a distributed config built without the `redis` feature.
#[cfg(not(feature = "redis"))]
pub(crate) fn needs_redis_feature() -> crate::ConfigError {
    crate::ConfigError::new(
        "distributed",
        "needs the `redis` feature (of buttress, or of buttress-limit)",
    )
}
