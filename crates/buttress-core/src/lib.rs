//! The shared vocabulary of the Buttress resilience layers.
//!
//! Every Buttress layer — breaker, bulkhead, adaptive limit, shedding,
//! throttling, rate limit, retry, timeout, fallback, chaos — speaks the
//! types defined here, so that they compose without glue:
//!
//! - [`Outcome`] and [`Classify`]: one notion of failure, shared by every
//!   layer that judges a call ([`classify`]).
//! - [`Rejected`] and [`Reason`]: the one typed error a layer returns when
//!   it refuses a request, found anywhere in a `BoxError` chain.
//! - [`telemetry`]: how a layer reports what it decided, without
//!   allocating, to a sink installed once per process or given per layer.
//! - [`RequestContext`] and [`TrustPolicy`]: what crosses hops (ID, trace,
//!   deadline, criticality) and whether a caller may set it ([`context`]).
//! - [`access`]: read method, headers and status alike over `http` and
//!   `reqwest` types.
//! - [`codec`]: strict parsers for the untrusted headers the layers honour.
//! - [`keyed`]: bounded per-key state that fails safe under key floods.
//! - [`clock`]: one clock reading per call chain, shared by every layer
//!   in it, and one epoch for instants kept in atomics.
//! - [`layer`]: the contract every layer keeps — a config that is data,
//!   one builder shape, one name rule, one default classifier, one handle
//!   shape.
//! - The mechanisms layers share rather than copy: [`future::OrRejected`]
//!   (the inner future or a ready rejection), [`body::LocalOrInner`] (the
//!   inner body or a short one of our own), [`rng::SharedRng`],
//!   [`backoff::Backoff`], [`grpc::is_grpc`] and
//!   [`RequestContext::with_request`].
//! - [`window`]: the one sliding window of counts over time (bucketed,
//!   lock-free, optionally striped over lanes) behind the breaker's time
//!   window, the retry budget and the throttle.
//! - [`timeout`]: the one timeout layer — a layer's own limit or the
//!   request's deadline, whichever ends first — used by every stack.
//!
//! ```
//! use buttress_core::{Reason, Rejected};
//! use std::time::Duration;
//!
//! let err: buttress_core::BoxError =
//!     Rejected::new(Reason::CircuitOpen).with_retry_after(Duration::from_secs(3)).into();
//! let found = Rejected::find(&*err).expect("a rejection");
//! assert_eq!(found.reason(), Reason::CircuitOpen);
//! assert!(!found.was_sent());
//! ```
// Unsafe code lives in one module, `context::scope` (the current request's
// context, read through the address of a pinned future's field), and is
// allowed there alone.
#![deny(unsafe_code)]

pub mod access;
pub mod answer;
pub mod backoff;
pub mod body;
pub mod chain;
pub mod classify;
pub mod clock;
pub mod codec;
pub mod config;
pub mod context;
pub mod future;
pub mod grpc;
pub mod keyed;
pub mod layer;
mod rejected;
pub mod rng;
#[cfg(feature = "tonic")]
pub mod status_errors;
pub mod telemetry;
pub mod timeout;
pub mod window;

pub use classify::{Classify, Outcome};
pub use context::{Criticality, RequestContext, TrustPolicy};
pub use grpc::GrpcCode;
pub use rejected::{Quota, Reason, Rejected};

/// The boxed error every Buttress layer returns, as tower's own layers do.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
