//! Ready-made stacks: the layers composed in DESIGN.md's order, right by
//! default, each layer tunable or left out, each stack one `tower::Layer`.
//!
//! - [`ServerStack`] (feature `stack`): `context → metrics → edge →
//!   adaptive limit → bulkhead → timeout → handler`.
//! - [`ClientStack`] (feature `stack`), one per dependency: `context →
//!   metrics → fallback → retry → breaker → bulkhead → timeout (per
//!   attempt) → chaos → transport`.
//! - [`ButtressExt`](crate::ButtressExt): the same layers one by one on a
//!   `tower::ServiceBuilder`, for stacks of your own.
//! - [`OptionalLayer`]: how a stack leaves a layer out with one type.
//!
//! Load shedding and rate limiting (server) and client-side throttling
//! (client) have their places reserved in that order; they join the
//! stacks as they land.
//!
//! With the `serde` feature, both stacks load from a TOML file: see
//! `buttress::config`.

mod optional;

#[cfg(feature = "stack")]
mod client;
#[cfg(feature = "stack")]
mod server;
#[cfg(feature = "stack")]
mod slot;

pub use self::optional::{Optional, OptionalLayer, ResponseFuture};

#[cfg(feature = "stack")]
pub use self::client::{
    ClientLayer, ClientStack, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CLIENT_CONCURRENCY,
};
#[cfg(feature = "stack")]
pub use self::server::{DEFAULT_SERVER_TIMEOUT, ServerAdaptiveLimit, ServerLayer, ServerStack};
