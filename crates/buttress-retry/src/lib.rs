//! Retries that are safe by default, as a tower layer.
//!
//! Retries hide transient failures — a connection reset, a pod restarting,
//! a moment of overload. Done naively they turn a dependency's bad minute
//! into a retry storm that keeps it down: every caller multiplies its load
//! by its number of attempts, and every hop of a call chain multiplies it
//! again. [`RetryLayer`] retries under limits that hold when everything is
//! failing at once:
//!
//! - **A budget** ([`RetryBudget`]): retries may add at most 10 % of the
//!   request rate plus 10 per second, over a sliding 10 s window, shared by
//!   every clone of the layer's services. When it is spent the last answer
//!   is returned as it is and the exhaustion is reported to telemetry. A
//!   dependency failing everything sees about 1.1× its normal load, not 3×.
//!   The layer's [`RetryHandle`] reads what is left of it.
//! - **Backoff with jitter**: exponential from 50 ms, capped at 2 s, drawn
//!   with full (default) or decorrelated jitter from a seedable stream
//!   (core's [`Backoff`](buttress_core::backoff::Backoff) and
//!   [`SharedRng`](buttress_core::rng::SharedRng)), so clients that failed
//!   together do not come back together.
//! - **Server hints**: `Retry-After` (seconds or HTTP-date) and gRPC's
//!   `grpc-retry-pushback-ms` set the next delay; a hint beyond
//!   `max_retry_after` (10 s) or a negative pushback ends the call.
//! - **Only transient failures**: transport errors, 429, 500, 502, 503,
//!   504, gRPC UNAVAILABLE and per-attempt timeouts (the set reqwest-retry,
//!   Polly and Envoy's `5xx` retry), and only if the layer's
//!   classifier ([`Classify`](buttress_core::Classify), the notion of
//!   failure shared with the breaker and metrics; by default
//!   [`DefaultClassifier`](buttress_core::layer::DefaultClassifier), which
//!   reads `grpc-status` when an answer carries one and the HTTP status
//!   otherwise) calls them failures; also 408, which says the server did
//!   not process the request. Never other 4xx. Rejections by inner layers before sending (circuit
//!   open, bulkhead full, throttled) are not retried by default: a second
//!   try now would be refused too.
//! - **Only idempotent requests**: GET, HEAD, OPTIONS, PUT, DELETE, TRACE,
//!   or any request with an `Idempotency-Key` header ([`Idempotency`]).
//! - **Deadlines**: no backoff crosses the request's deadline (its
//!   [`RequestContext`](buttress_core::RequestContext)) or the layer's own
//!   `timeout`; a backoff that would ends the call at once, and retried
//!   attempts are cut off at the deadline.
//! - **Bodies without `Req: Clone`**: HTTP request bodies up to 64 KiB are
//!   teed into a buffer as they are sent and replayed from it
//!   ([`BufferBody`], [`ReplayBody`]); larger bodies are sent once and not
//!   retried. The limit is data (`body_limit`, settable from TOML), and so
//!   is the cap on what all requests keep together (`replay_memory`,
//!   64 MiB): past it, requests are sent once, not buffered.
//!   `reqwest::Request` is replayed with `try_clone` (feature `reqwest`);
//!   requests without a stream can simply be cloned ([`CloneRequest`]).
//! - **Visible**: retries carry `x-retry-attempt` (and
//!   `grpc-previous-rpc-attempts` for gRPC); telemetry receives one
//!   `Admitted` per request, `Retry { attempt, backoff }` per retry and
//!   `BudgetExhausted`.
//!
//! The layer is built like every Buttress layer (see
//! [`buttress_core::layer`]). Every setting is data, in [`RetryConfig`]:
//! build from it alone with `RetryLayer::from_config` (or in a stack's
//! environment), or start [`RetryLayer::builder`], set the config with
//! `.configure(|c| ..)` or `.with_config(..)`, and add what is not data —
//! a classifier, a replay strategy, a budget shared with other layers
//! ([`RetryLayerBuilder`]). [`RetryLayer::handle`] reads its settings and
//! budget ([`RetryHandle`]).
//!
//! The per-attempt timeout is core's
//! [`TimeoutLayer`](buttress_core::timeout::TimeoutLayer), placed in the
//! client stack below the breaker and the bulkhead (only fault injection
//! sits under it), so that a hung dependency both trips the breaker and
//! gets retried:
//!
//! ```
//! use buttress_core::layer::LayerBuilder;
//! use buttress_core::timeout::TimeoutLayer;
//! use buttress_retry::RetryLayer;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let dependency = tower::service_fn(|req: http::Request<buttress_retry::ReplayBody<String>>| async move {
//!     // A hung first attempt; the retry (it carries x-retry-attempt) answers.
//!     if !req.headers().contains_key("x-retry-attempt") {
//!         tokio::time::sleep(Duration::from_secs(60)).await;
//!     }
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! let client = ServiceBuilder::new()
//!     .layer(
//!         RetryLayer::builder()
//!             .configure(|c| c.max_attempts = 2)
//!             .name("inventory")
//!             .build()
//!             .unwrap(),
//!     )
//!     .layer(TimeoutLayer::new(Duration::from_millis(300)).expect("a valid timeout"))
//!     .service(dependency);
//! let res = client.oneshot(http::Request::new(String::from("body"))).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```
//!
//! Hedging (a second attempt after a delay, first answer wins) is not
//! implemented yet.
#![forbid(unsafe_code)]

mod bound;
pub mod budget;
mod builder;
pub mod config;
mod future;
mod handle;
mod headers;
mod hedge;
mod layer;
mod policy;
pub mod replay;
mod service;
mod shared;
mod sync;

pub use self::budget::RetryBudget;
pub use self::builder::RetryLayerBuilder;
pub use self::config::{
    BackoffConfig, BudgetConfig, DEFAULT_REPLAY_MEMORY, GrpcMethodConfig, Idempotency, Jitter,
    MAX_ATTEMPTS, MAX_BODY_LIMIT, MAX_REPLAY_MEMORY, RetryConfig, RetryOnConfig,
};
pub use self::future::ResponseFuture;
pub use self::handle::RetryHandle;
pub use self::headers::{GRPC_PREVIOUS_RPC_ATTEMPTS, X_RETRY_ATTEMPT};
pub use self::hedge::HedgeConfig;
pub use self::layer::RetryLayer;
pub use self::policy::IDEMPOTENCY_KEY;
pub use self::replay::{BufferBody, CloneRequest, HttpCopy, Replay, ReplayBody};
pub use self::service::Retry;
