//! Endpoint-aware clients: one dependency, many replicas, and one bad
//! replica costing almost nothing.
//!
//! [`Balance`] spreads a client's calls over a changing set of endpoints
//! fed through tower's [`Discover`](tower::discover::Discover) — a
//! static list, the config's `host:port` entries re-resolved through DNS,
//! or a [channel](discover::channel) the application feeds — and keeps
//! each endpoint's standing:
//!
//! - **Choice**: power of two choices on a load estimate, the peak EWMA
//!   of the endpoint's round trips × (its calls in flight + 1), as
//!   tower's `p2c` + `PeakEwma` and Finagle do.
//! - **Passive outlier ejection**: failures in a row, or a failure rate,
//!   by core's classification, take an endpoint out for a while that
//!   grows with repeated ejections and is jittered, and never more than
//!   `max_ejection_percent` of the endpoints at once, so a fleet-wide
//!   problem never ejects them all ([`EjectionConfig`]).
//! - **Overload is not failure**: a 429 or `RESOURCE_EXHAUSTED` (or a
//!   refusal by the endpoint's own bulkhead or breaker) raises the
//!   endpoint's load estimate, moving share away, without ejecting it
//!   ([`Overload`]).
//! - **Active health checks** (optional): HTTP `GET` on a path, or the
//!   gRPC health protocol (feature `grpc`), on an interval with a timeout
//!   and bounded concurrency, take endpoints out and bring them back
//!   ([`HealthCheckConfig`]).
//! - **Slow start**: an endpoint added or readmitted ramps its share from
//!   near zero to an equal one over a window.
//! - **No lost calls, no hangs**: an endpoint leaving the table finishes
//!   the calls it has; with no endpoint available a call fails at once
//!   with a [`Rejected`](buttress_core::Rejected) of
//!   [`Reason::NoEndpoint`](buttress_core::Reason::NoEndpoint) (a 503,
//!   gRPC `UNAVAILABLE`), never sent, its retry hint the time until an ejection ends.
//!
//! # In a client stack
//!
//! ```text
//! context → metrics → fallback → retry or hedge → throttle → balancer
//!     → per endpoint: breaker → bulkhead → per-attempt timeout → chaos → connection
//! ```
//!
//! The per-endpoint part is an [`EndpointLayer`]: the builder's
//! [`endpoint_layer`](BalanceLayerBuilder::endpoint_layer) (one layer for
//! all, for stateless layers) or
//! [`endpoint_layer_fn`](BalanceLayerBuilder::endpoint_layer_fn) (a fresh
//! layer per endpoint: a breaker and bulkhead of its own). Retries above
//! the balancer may land on another endpoint; the per-attempt timeout
//! below the ejection breakers makes a hung endpoint's attempts count as
//! its failures.
//!
//! # Shared state, and why not tower's `Balance`
//!
//! Every Buttress layer shares its state across clones; tower's
//! `Balance` owns its endpoints and chooses through `&mut self`, so
//! sharing it takes a `Buffer` (a task, a bounded queue, a hop per call).
//! The endpoint services users bring — hyper-util's `Client`, reqwest's,
//! tonic's `Channel` — are all `Clone`, so the balancer keeps a shared
//! table instead: an immutable `Arc<[Arc<Endpoint>]>` that each clone
//! re-reads only when an epoch counter moved (a discovery change), and
//! per endpoint, atomics for its load, in-flight count, ejection and
//! health. A call chooses with atomic loads and calls a clone of the
//! endpoint's service; no lock and no queue on the request path.
//!
//! # Why the breaker
//!
//! Ejection reuses the circuit breaker's state machine rather than a
//! second one: per endpoint, a breaker of `buttress-breaker` with a count
//! window (failures in a row: a window of `n` calls that trips when all
//! `n` failed) and one with a time window (the failure rate), both in
//! shadow mode. Open is ejected, the open wait is the ejection time
//! (growing and jittered by the breaker's backoff), half-open is the
//! readmission, judged by its probes. Shadow mode is what lets the
//! balancer keep an endpoint the breaker would open when
//! `max_ejection_percent` is reached. Only the breaker's public API is
//! used (its layer, its handle's state and open time).
//!
//! # Building it
//!
//! | | |
//! |---|---|
//! | config (data, serde) | [`BalanceConfig`], a [`LayerConfig`](buttress_core::layer::LayerConfig) |
//! | builder | [`BalanceLayer::builder()`] → [`BalanceLayerBuilder`]: data through [`LayerBuilder`](buttress_core::layer::LayerBuilder); of its own the per-endpoint layer, `.classifier`, `.overload`, and `.build` |
//! | from data | [`BalanceLayer::from_config`] |
//! | the client | `layer.layer(make)` over the config's endpoints ([`MakeEndpoint`]), or [`BalanceLayer::discover`] |
//! | handle | [`BalanceLayer::handle`], [`Balance::handle`] → [`BalanceHandle`] |
//!
//! # Telemetry
//!
//! The balancer registers once, under its name, and reports a refusal
//! when no endpoint is available. Each of the first
//! `max_endpoint_labels` endpoints reports under `<name>/<endpoint>`:
//! calls admitted and completed (with their duration), and its standing
//! as the states `active`, `ejected` and `readmitting`. Both report as
//! [`LayerKind::Balance`](buttress_core::telemetry::LayerKind::Balance).
//!
//! # Example
//!
//! ```
//! use buttress_balance::{BalanceLayer, discover};
//! use buttress_core::layer::LayerBuilder;
//! use std::time::Duration;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = BalanceLayer::builder()
//!     .configure(|c| {
//!         c.ejection.consecutive_failures = Some(3);
//!         c.ejection.base_time = Duration::from_secs(10);
//!     })
//!     .name("search")
//!     .build()
//!     .unwrap();
//! let replica = |n: u32| {
//!     tower::service_fn(move |_req: http::Request<()>| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(n))
//!     })
//! };
//! let client = layer.discover(discover::static_list([(1u32, replica(1)), (2, replica(2))]));
//! let res = client.clone().oneshot(http::Request::new(())).await.unwrap();
//! assert!([1, 2].contains(res.body()));
//! assert_eq!(client.handle().endpoints().len(), 2);
//! # }
//! ```
#![forbid(unsafe_code)]

mod config;
pub mod discover;
mod endpoint;
mod future;
mod handle;
mod health;
mod judge;
mod key;
mod layer;
mod pick;
mod policy;
mod service;
mod shared;
mod telemetry;
pub mod to_endpoint;

pub use self::config::{
    BalanceConfig, EjectionConfig, EndpointAddress, FailureRateConfig, HealthCheckConfig,
    HealthProbe, LoadConfig, MAX_CONFIGURED_ENDPOINTS,
};
pub use self::endpoint::{EndpointState, EndpointStats};
pub use self::future::ResponseFuture;
pub use self::handle::BalanceHandle;
pub use self::judge::{Judge, NoOverload, Overload, StatusOverload};
pub use self::key::{EachEndpoint, EndpointKey, EndpointLayer, EveryEndpoint, MakeEndpoint};
pub use self::layer::{BalanceLayer, BalanceLayerBuilder};
pub use self::service::Balance;
pub use self::shared::MAX_ENDPOINTS;
pub use buttress_core::config::ConfigError;
