//! Buttress: tower layers that keep a microservice standing when its
//! dependencies fail or its own load spikes.
//!
//! This facade re-exports the component crates, each behind a feature of
//! its name: [`core`] (the shared vocabulary and the layer contract),
//! `breaker`, `limit` (bulkhead, adaptive limit, shedding, throttling,
//! rate limits), `retry`, `fallback`, `context`, `metrics` and `chaos`.
//! It adds the [`edge`] layer, the ready-made [`stack`]s, a whole service
//! from TOML (`config`), the [`ButtressExt`] methods for
//! `tower::ServiceBuilder`, and a [`prelude`] with every layer. Every layer
//! is a `tower::Layer` built the same way — a config that is data, a
//! builder for what is not, a handle to read it — see ARCHITECTURE.md in
//! the repository for the contract and the table of layers.
//!
//! ```
//! use buttress::core::classify::{Classify, HttpClassifier, Outcome};
//! use buttress::{Reason, Rejected};
//!
//! let res = http::Response::builder().status(502).body(()).unwrap();
//! assert_eq!(HttpClassifier::default().classify(Ok(&res)), Outcome::Failure);
//!
//! let refused = Rejected::new(Reason::BulkheadFull);
//! assert_eq!(refused.outcome(), Outcome::Ignored); // never blames the dependency
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(all(feature = "serde", feature = "stack"))]
pub mod config;
pub mod edge;
mod ext;
pub mod prelude;
#[cfg(all(feature = "reqwest", feature = "stack"))]
pub mod reqwest;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stack;

pub use self::ext::ButtressExt;

/// The README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "balance")]
pub use buttress_balance as balance;
#[cfg(feature = "breaker")]
pub use buttress_breaker as breaker;
#[cfg(feature = "chaos")]
pub use buttress_chaos as chaos;
#[cfg(feature = "context")]
pub use buttress_context as context;
pub use buttress_core as core;
pub use buttress_core::{
    BoxError, Classify, Criticality, Outcome, Reason, Rejected, RequestContext, TrustPolicy,
};
#[cfg(feature = "fallback")]
pub use buttress_fallback as fallback;
#[cfg(feature = "limit")]
pub use buttress_limit as limit;
#[cfg(feature = "metrics")]
pub use buttress_metrics as metrics;
#[cfg(feature = "retry")]
pub use buttress_retry as retry;
