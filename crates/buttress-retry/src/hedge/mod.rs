//! Hedged requests: after a delay with no answer, another attempt of the
//! same request; the first acceptable answer wins and the others are
//! dropped at once.
//!
//! Hedging is a mode of the retry layer (its config's `hedge`), because
//! it is retrying by another schedule: the same requests qualify
//! (idempotent ones, those with an `Idempotency-Key`, gRPC methods
//! declared in `grpc_methods`), the same replay re-sends their bodies,
//! the same budget pays for every extra attempt, and a client uses one or
//! the other, as a gRPC service config does. What hedging adds:
//!
//! - the delay: fixed, or adaptive — a percentile of recent attempt
//!   latencies from a bounded, lock-free sketch, within a floor and a
//!   ceiling;
//! - at most `max_attempts` in flight; none started at or after the
//!   request's deadline;
//! - gRFC A6's rules: a failure the retry policy would retry (UNAVAILABLE,
//!   a 503…) sends the next hedge at once; any other failure is returned
//!   at once (fatal); a server pushback (`Retry-After`,
//!   `grpc-retry-pushback-ms`) stops further hedges;
//! - the losers dropped when the answer comes, so their connections or
//!   streams close and their permits go back.

mod config;
pub(crate) mod future;
mod sketch;

pub use self::config::HedgeConfig;
pub(crate) use self::config::Hedging;
