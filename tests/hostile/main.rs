//! The hostile-traffic suite: each attack on the default stacks that was
//! reproduced against an earlier Buttress, kept as a test that asserts the
//! bound that now holds. RELIABILITY.md lists each attack, its test and
//! its measured figure. Run alone with `cargo test --all-features --test hostile`.

#![cfg(all(feature = "stack", feature = "serde"))]
mod adaptive_poisoning;
mod body_panic;
mod current_context;
mod durations;
#[cfg(feature = "balance")]
mod endpoint_flood;
mod forwarded;
mod gauges;
mod header_names;
mod keyed_breaker;
mod keyed_limits;
mod laundering;
mod metrics_memory;
#[cfg(feature = "admin")]
mod operations;
#[cfg(feature = "redis")]
mod redis_outage;
mod replay_memory;
mod retried_uris;
mod server_flood;
mod slow_connections;
mod stale_cache;
mod straggler;
#[path = "../support/mod.rs"]
mod support;
mod trace_context;
