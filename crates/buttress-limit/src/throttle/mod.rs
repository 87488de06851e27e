//! Client-side adaptive throttling: stop sending what a struggling
//! dependency will reject anyway.
//!
//! When a dependency is overloaded, every request it refuses still costs
//! it a connection, a parse and a rejection — and the callers' retries
//! multiply that. Following Google's SRE book, each client counts, over a
//! sliding window (default 2 minutes in 120 buckets):
//!
//! - *requests*: calls it sent, plus calls it rejected itself;
//! - *accepts*: calls the dependency answered successfully, judged by
//!   core's [`Classify`](buttress_core::Classify) — by default
//!   [`DefaultClassifier`](buttress_core::layer::DefaultClassifier), for
//!   which an HTTP 5xx or 429 (or a failing `grpc-status`) is a refusal;
//!
//! and rejects each new call locally with probability
//! `max(0, (requests − k·accepts) / (requests + 1))`, `k` = 2 by default,
//! capped at `max_probability` (0.9), so that some calls always reach the
//! dependency and see it recover. While the dependency accepts at least
//! half of what it gets, nothing is rejected; once it accepts less, the
//! client sends about `k` times what it accepts and fails the rest at once
//! with [`Rejected`](buttress_core::Rejected)
//! [`Reason::Throttled`](buttress_core::Reason::Throttled) — the
//! dependency is sick, not the caller: 503 / UNAVAILABLE at an edge.
//!
//! Calls refused by an inner layer before sending (an open breaker, a full
//! bulkhead: `Outcome::Ignored`) and cancelled calls count as neither, so
//! the throttle does not stay stuck after recovery. The draws come from
//! core's seeded, lock-free [`SharedRng`](buttress_core::rng::SharedRng);
//! the window and the draw are std atomics only (no tokio), ready for a
//! loom model. The probability goes to telemetry
//! as a gauge each time the window slides.
//!
//! Place it above the breaker in a client stack:
//! `retry -> throttle -> breaker -> bulkhead -> timeout -> transport`.

mod config;
mod future;
mod layer;
mod odds;
mod service;
mod throttler;
mod window;

pub use self::config::{ThrottleConfig, ThrottleLayerBuilder};
pub use self::future::ResponseFuture;
pub use self::layer::{ThrottleHandle, ThrottleLayer};
pub use self::service::Throttle;
