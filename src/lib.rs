//! Buttress: tower layers that keep a microservice standing when its
//! dependencies fail or its own load spikes.
//!
//! This facade re-exports the component crates. Today it carries the
//! shared vocabulary ([`core`]): outcomes and classification, typed
//! rejections, telemetry, request context and trust, header codecs and
//! bounded keyed state. The layers arrive crate by crate; each is a real
//! [`tower::Layer`](https://docs.rs/tower/latest/tower/trait.Layer.html)
//! that composes with the others.
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

#[cfg(all(feature = "serde", feature = "stack"))]
pub mod config;
pub mod edge;
mod ext;
pub mod prelude;
pub mod stack;

pub use self::ext::ButtressExt;

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
