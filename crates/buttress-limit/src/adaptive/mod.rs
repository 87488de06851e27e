//! Adaptive concurrency: slow down instead of falling over.
//!
//! A fixed limit is wrong twice: too high when the dependency slows down
//! (calls pile up in its queues, every caller waits, timeouts cascade),
//! too low when it is healthy (capacity is wasted). An adaptive limit
//! measures instead. While round trips stay near the dependency's no-load
//! time it raises the limit; once they stretch — the sign that calls are
//! queueing *inside* the dependency — it lowers it, so the excess waits
//! here, in a queue we bound, or is refused at once with
//! [`Reason::Overloaded`](buttress_core::Reason::Overloaded) and a retry
//! hint, rather than waiting there, unbounded.
//!
//! - The algorithms ([`Gradient`], [`Vegas`], [`Aimd`], or your own
//!   [`LimitAlgorithm`]) see one [`Sample`] per window, not each call: the
//!   per-call cost is a few atomic operations.
//! - The no-load round trip is re-measured every `probe_interval` (plus
//!   random jitter, so replicas do not probe together) by dropping the
//!   limit to its minimum for one window.
//! - The queue is bounded in length and in delay, CoDel-style: while it
//!   empties regularly a caller may wait `max_wait`; once it has stood
//!   non-empty for `codel_interval`, newcomers wait at most `codel_target`.
//!   Nobody waits past its request's deadline.
//! - Refusals: a full queue, or a wait that outlasted the queue's patience,
//!   is [`Reason::Overloaded`](buttress_core::Reason::Overloaded); a wait
//!   cut short by the request's own deadline (or a deadline already past)
//!   is [`Reason::QueueTimeout`](buttress_core::Reason::QueueTimeout), as
//!   for the bulkhead. All carry the configured `retry_after` and are
//!   "never sent".
//! - Samples are judged by a classifier, by default core's
//!   [`DefaultClassifier`](buttress_core::layer::DefaultClassifier) (HTTP
//!   status, or `grpc-status` when present: a 503 is a failure); set
//!   another with
//!   [`AdaptiveLimitLayerBuilder::classifier`]. Failures are drops (what
//!   AIMD reacts to); local rejections and cancelled calls are not samples
//!   at all.
//! - Limit, in-flight, queue depth and no-load RTT go to the telemetry
//!   sink as gauges at every window, and are read at any time through the
//!   layer's [`AdaptiveLimitHandle`].
//!
//! Every setting — bounds, window, probe, queue, the built-in algorithm —
//! is data in an [`AdaptiveLimitConfig`]; the builder
//! ([`AdaptiveLimitLayer::builder`]) adds only the classifier and an
//! algorithm of your own.

mod algorithm;
mod builder;
mod config;
mod future;
mod layer;
mod limiter;
mod service;
mod window;

pub use self::algorithm::{Aimd, Algorithm, Gradient, LimitAlgorithm, Sample, Vegas};
pub use self::builder::AdaptiveLimitLayerBuilder;
pub use self::config::AdaptiveLimitConfig;
pub use self::future::ResponseFuture;
pub use self::layer::{AdaptiveLimitHandle, AdaptiveLimitLayer};
pub use self::service::AdaptiveLimit;
