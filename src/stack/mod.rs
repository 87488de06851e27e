//! Ready-made stacks: every layer in its place, defensible by default,
//! each layer a [`Toggle`] of its config, each stack one `tower::Layer`.
//!
//! - [`ServerStack`] (feature `stack`): `context → metrics → edge → rate
//!   limit → shedding → adaptive limit → bulkhead → timeout → handler`.
//! - [`ClientStack`] (feature `stack`), one per dependency: `context →
//!   metrics → fallback → retry → throttle → breaker → bulkhead → timeout
//!   (per attempt) → chaos → transport`; with a `balance` section
//!   (feature `balance`), a balancer after the throttle and the rest once
//!   per replica ([`ClientLayer::balanced`]).
//! - [`ButtressExt`](crate::ButtressExt): the same layers one by one on a
//!   `tower::ServiceBuilder`, for stacks of your own.
//! - [`BypassLayer`]: how a stack leaves a layer out with one type.
//! - [`HeapFutureLayer`]: how the server stack keeps its response future
//!   small.
//!
//! Each stack's documentation has a table of what is on by default, with
//! which settings, and why; ARCHITECTURE.md explains the order. With the
//! `serde` feature, both stacks load from TOML: see `buttress::config`.

mod bypass;
#[cfg(feature = "stack")]
mod defaults;
mod heap;
#[cfg(feature = "stack")]
mod live;
mod toggle;

#[cfg(all(feature = "stack", feature = "balance"))]
mod balanced;
#[cfg(feature = "stack")]
mod client;
#[cfg(all(feature = "stack", feature = "balance"))]
mod endpoint_guards;
#[cfg(feature = "stack")]
mod server;

pub use self::bypass::BypassLayer;
pub use self::heap::{HeapFuture, HeapFutureLayer};
pub use self::toggle::Toggle;

#[cfg(all(feature = "stack", feature = "balance"))]
pub use self::balanced::{Balanced, Labelled, StackEndpoints};
#[cfg(feature = "stack")]
pub use self::client::{
    Client, ClientLayer, ClientStack, ClientStackConfig, DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_CLIENT_CONCURRENCY, FallbackSlot, LiveClient, NoFallback,
};
#[cfg(feature = "stack")]
pub use self::server::{DEFAULT_SERVER_TIMEOUT, ServerLayer, ServerStack};
