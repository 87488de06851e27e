//! Fault injection for tower services: errors, latency and aborts, at a
//! configured rate or per request, with seeded randomness.
//!
//! A page should not die because its recommendations box did, and the
//! way to know it will not is to break the recommendations box on purpose
//! — in a test, in staging, on a game day — and watch. [`ChaosLayer`]
//! sits innermost in one dependency's client stack, just above the
//! transport (`… → breaker → bulkhead → timeout → chaos → transport`), so
//! everything above it sees an injected fault exactly as it would see the
//! dependency failing:
//!
//! - **Aborts** fail the call with an [`InjectedFault`] error whose source
//!   is `Rejected::new(Reason::FaultInjected).sent()`, standing in for
//!   the dependency's own failure: classifiers judge it a failure,
//!   breakers trip on it, retries retry it, fallbacks serve for it, the
//!   edge answers 503 / `UNAVAILABLE`. The dependency is not called.
//! - **Delays** sleep (tokio time) before calling the dependency — a
//!   timeout above cuts them short, as it would a slow answer — bounded
//!   by [`max_delay`](ChaosConfig::max_delay).
//!
//! Faults come from three places, first match wins:
//!
//! 1. a [`FaultDirective`](buttress_core::context::FaultDirective) in the
//!    outbound request's own extensions (code that builds the request
//!    asks for a fault on that call);
//! 2. with [`directives`](ChaosConfig::directives) on, an
//!    `x-buttress-fault` header directive naming this dependency, as
//!    carried from a trusted caller across every hop in the
//!    [`RequestContext`](buttress_core::RequestContext) — see
//!    [`directive`] for the strict grammar (bad directives are ignored
//!    and logged);
//! 3. the configured rates ([`abort`](ChaosConfig::abort),
//!    [`delay`](ChaosConfig::delay)), drawn from a seeded generator so a
//!    run can be repeated exactly.
//!
//! Off by default: a layer built with nothing configured injects nothing.
//! At most [`max_active`](ChaosConfig::max_active) faults are
//! active at once (past it, calls pass untouched), and a [`ChaosHandle`]
//! switches the layer off at run time.
//!
//! The layer keeps the contract of [`buttress_core::layer`]: every
//! setting is data and lives in a [`ChaosConfig`] (a TOML section), built with [`ChaosLayer::from_config`] or, in code,
//! [`ChaosLayer::builder`] (whose
//! [`configure`](buttress_core::layer::LayerBuilder::configure) changes
//! the config); [`ChaosLayer::handle`] switches and reads it. Its name is
//! the dependency's, as directives spell it; built in a client stack's
//! environment, it takes the stack's.
//!
//! # Telemetry
//!
//! Registers as `chaos/<name>`; reports `Rejected(FaultInjected)` when an
//! abort fires and `Waited(delay)` when a delay starts. [`ChaosStats`]
//! counts calls, delays, aborts, capped faults and ignored directives.
//!
//! # Cost
//!
//! A call with no fault configured for it costs a relaxed counter
//! increment, a flag load and (with directives on) a look for the request
//! context; drawing a rate costs one `fetch_add`. Nothing allocates until
//! a fault fires (an abort boxes its error once).
//!
//! # Example
//!
//! ```
//! use buttress_core::layer::LayerBuilder;
//! use buttress_chaos::{AbortConfig, ChaosLayer};
//! use buttress_core::context::FaultAbort;
//! use buttress_core::{Reason, Rejected};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let dependency = tower::service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! let chaos = ChaosLayer::builder()
//!     .name("recommendations")
//!     .configure(|c| {
//!         c.abort = Some(AbortConfig {
//!             percent: 100.0,
//!             with: FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE),
//!         });
//!         c.seed = Some(1);
//!     })
//!     .build()
//!     .unwrap();
//! let err = chaos.layer(dependency).oneshot(http::Request::new(())).await.unwrap_err();
//! assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::FaultInjected);
//! # }
//! ```
#![forbid(unsafe_code)]

mod builder;
pub mod config;
pub mod directive;
mod error;
mod future;
mod handle;
mod latency;
mod layer;
mod service;
mod shared;

pub use self::builder::ChaosLayerBuilder;
pub use self::config::{
    AbortConfig, ChaosConfig, DEFAULT_MAX_ACTIVE, DEFAULT_MAX_DELAY, DelayConfig,
};
pub use self::error::InjectedFault;
pub use self::future::ResponseFuture;
pub use self::handle::{ChaosHandle, ChaosStats};
pub use self::latency::Latency;
pub use self::layer::ChaosLayer;
pub use self::service::Chaos;
