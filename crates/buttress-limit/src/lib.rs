//! Bulkheads, adaptive concurrency, load shedding, client-side throttling
//! and per-caller rate limits for tower.
//!
//! Five layers that keep overload from sinking a whole service:
//!
//! - [`BulkheadLayer`]: a fixed number of concurrent calls per compartment
//!   (per dependency, or per key — tenant, route, host), so that a slow
//!   dependency exhausts only its own share. See [`bulkhead`].
//! - [`AdaptiveLimitLayer`]: a concurrency
//!   limit that follows measured latency — gradient, Vegas or AIMD — so a
//!   service slows down instead of falling over. See [`adaptive`].
//! - [`LoadShedLayer`]: refuses the least important requests first under
//!   overload. See [`shed`].
//! - [`ThrottleLayer`]: on the client, stops sending what a struggling
//!   dependency would refuse anyway. See [`throttle`].
//! - [`RateLimitLayer`]: gives each caller a quota. See [`rate`].
//!
//! All five keep the rules every Buttress layer keeps (ARCHITECTURE.md,
//! "Rules every layer keeps"):
//!
//! - state is created when the layer is built and shared by every clone
//!   and every `Layer::layer` call;
//! - the bulkhead and the adaptive limit take a free permit with one
//!   compare-and-swap — no lock, no allocation; only callers that must
//!   queue take a short lock;
//! - every queue has a capacity and every wait a bound, and nobody waits
//!   past its request's deadline (from core's `RequestContext`, in the
//!   request extensions or the current task);
//! - refusals are a typed [`Rejected`](buttress_core::Rejected) — bulkhead
//!   full, queue timeout, overloaded, shed, throttled, rate limited — with
//!   a retry hint, "never sent";
//! - capacity is taken in `call`, where the request is known; `poll_ready`
//!   only passes on the inner service's readiness; a [`Permit`] is
//!   returned on completion, error, panic and drop, or — with
//!   [`OnBodyEnd`] — when the HTTP response body ends;
//! - decisions run on tokio time, so simulations run on a paused clock;
//! - settings are data, in each layer's config ([`BulkheadConfig`],
//!   [`AdaptiveLimitConfig`], [`ShedConfig`], [`ThrottleConfig`],
//!   [`RateLimitConfig`]; loadable from TOML): a builder
//!   sets them with `.configure(|c| ..)` or `.with_config(..)`, or
//!   `FooLayer::from_config(&config)` builds from data alone; a builder
//!   adds only what is not data — a classifier, a key closure, a custom
//!   algorithm or load signal, a priority function.
//!
//! ```
//! use buttress_core::layer::LayerBuilder;
//! use buttress_limit::{BulkheadLayer, QueueOrder};
//! use buttress_limit::adaptive::AdaptiveLimitLayer;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let backpressure = AdaptiveLimitLayer::builder().name("api").build().unwrap();
//! let payments = BulkheadLayer::builder()
//!     .configure(|c| {
//!         c.max_concurrent = 16;
//!         c.queue_capacity = 32;
//!         c.max_wait = Duration::from_millis(50);
//!         c.order = QueueOrder::Lifo;
//!     })
//!     .name("payments")
//!     .build()
//!     .unwrap();
//!
//! let svc = ServiceBuilder::new()
//!     .layer(backpressure)
//!     .layer(payments)
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(()))
//!     });
//! assert_eq!(svc.oneshot(http::Request::new(())).await.unwrap().status(), 200);
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod adaptive;
pub mod bulkhead;
mod permit;
pub mod rate;
mod release;
pub mod shed;
pub mod throttle;

pub use adaptive::{
    AdaptiveLimit, AdaptiveLimitConfig, AdaptiveLimitHandle, AdaptiveLimitLayer,
    AdaptiveLimitLayerBuilder,
};
pub use bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadHandle, BulkheadLayer, BulkheadLayerBuilder,
    KeyedBulkheadHandle,
};
/// Core's config error, re-exported: every Buttress builder returns it.
pub use buttress_core::config::ConfigError;
pub use permit::{Permit, QueueOrder};
pub use rate::{
    RateLimit, RateLimitConfig, RateLimitHandle, RateLimitLayer, RateLimitLayerBuilder,
};
pub use release::{OnBodyEnd, OnResponse, PermitBody, ReleasePolicy};
pub use shed::{LoadShed, LoadShedHandle, LoadShedLayer, LoadShedLayerBuilder, ShedConfig};
pub use throttle::{Throttle, ThrottleConfig, ThrottleHandle, ThrottleLayer, ThrottleLayerBuilder};
