//! A circuit breaker for tower services.
//!
//! A breaker stands between a caller and a dependency. While the
//! dependency answers well, it is **closed**: calls pass and their
//! outcomes fill a sliding window. When the window shows the dependency
//! failing — a failure rate, or a slow-call rate, at or above its
//! threshold once at least `minimum_calls` are in the window — it
//! **opens**: calls are rejected at once, without reaching the
//! dependency, so the caller answers fast instead of piling up waits, and
//! the dependency gets room to recover. After a wait it turns
//! **half-open** and lets a few probe calls through; their verdict closes
//! it or opens it again, for a wait that can grow on each consecutive
//! re-open.
//!
//! ```text
//!            rate >= threshold                  wait passed
//!   Closed ───────────────────▶ Open ─────────────────────────▶ HalfOpen
//!     ▲                          ▲                                 │
//!     │                          └──── probes' rate >= threshold ──┤
//!     └───────────── all probes done, rates under thresholds ──────┘
//! ```
//!
//! Plus states set by hand through a [`CircuitBreakerHandle`]: forced
//! open, disabled, and metrics-only (shadow) mode, which keeps judging
//! but admits what it would reject and counts it — for tuning thresholds
//! on production traffic before enforcing them.
//!
//! # Behaviour
//!
//! - **Windows**: exactly the last N calls, or the last T in buckets;
//!   both O(1) per call and bounded in memory ([`WindowConfig`]).
//! - **What fails** comes from core's [`Classify`]: by default
//!   [`DefaultClassifier`] (`grpc-status` when an answer carries one, else
//!   the HTTP status: 5xx and 429 fail; transport errors fail). Use
//!   `AnyErrorFails` for services that are not HTTP. A timeout or an
//!   injected fault from an inner layer (a [`Rejected`] marked *sent*)
//!   fails, so a hung dependency trips the breaker; a rejection before
//!   sending and a dropped call count neither way.
//! - **Half-open** admits `permitted_probes` calls in total (and so at
//!   most that many in flight) and rejects the rest. Once all probes are
//!   done it closes if their rates are under the thresholds; it re-opens
//!   as soon as the failures among the permitted probes reach the
//!   threshold. A probe whose future is dropped, or panics, gives its slot
//!   back. A call admitted before the breaker opened that ends later does
//!   not count: every call carries the generation that admitted it, and
//!   an outcome still being recorded when the breaker closes again is
//!   waited for before the new window is cleared, so it never lands in
//!   the next closed period's window.
//! - **Rejections** are `Err(`[`Rejected`]`)` with
//!   [`Reason::CircuitOpen`] and, while open, the time until half-open as
//!   retry hint (in half-open with every probe taken, a hint of at most a
//!   second); the edge layer turns it into 503 with `Retry-After`.
//! - **Per-key breakers** ([`KeyedCircuitBreakerLayer`]): one per host,
//!   route or tenant, in a bounded map ([`MAX_KEYED_MEMORY`] in all, under
//!   16 KiB a key with a time window) that evicts quiet breakers first,
//!   then ones holding a few failures or open with no call for a whole
//!   `wait`, and never an open one calls keep reaching; a new key that
//!   finds no room is admitted unprotected rather than refused.
//! - **Telemetry**: the layer registers once as `breaker/<name>`; per call
//!   it reports `Admitted` or `Rejected(CircuitOpen)`, then `Completed`
//!   (whose duration is measured only when slow-call tracking is on, and
//!   zero otherwise); every transition is a `StateChanged` with the names
//!   of [`State::as_str`]. A breaker starts `closed`. A single breaker
//!   built before the global sink is installed tells it its current state
//!   when it binds (`State`), as does one whose transitions raced another
//!   thread's and may have reached the sink out of order.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | window | the last 100 calls |
//! | failure rate | 50 % |
//! | slow calls | off |
//! | minimum calls | 20 |
//! | wait | 30 s, constant (backoff multiplier 1, max 5 min, no jitter) |
//! | permitted probes | 5 |
//! | max keys (keyed) | 1,000 |
//!
//! # Building it
//!
//! The breaker keeps the contract of every Buttress layer
//! ([`buttress_core::layer`]):
//!
//! | | |
//! |---|---|
//! | config (data, serde) | [`BreakerConfig`], a [`LayerConfig`] |
//! | builder | [`CircuitBreakerLayer::builder()`] → [`CircuitBreakerLayerBuilder`]: data through [`LayerBuilder`] (`.configure`, `.with_config`, `.config`, `.name`, `.sink`, `.env`); of its own only what is not data (`.classifier`), and `.build` |
//! | from data | [`CircuitBreakerLayer::from_config`], [`LayerConfig::build_in`], or `builder().with_config(..)` to add a classifier or sink |
//! | per key | [`CircuitBreakerLayerBuilder::build_keyed`] → [`KeyedCircuitBreakerLayer`] |
//! | handle | [`CircuitBreakerLayer::handle`] → [`CircuitBreakerHandle`]; [`KeyedCircuitBreakerLayer::handle`] → [`KeyedCircuitBreakerHandle`] |
//!
//! Every setting is data and lives in the config: the builder has no
//! setter per field; you set the fields of its config
//! (`.configure(|c| c.wait = ..)`). What the builder adds is code, not
//! data: the classifier, and a keyed breaker's key extractor.
//!
//! An unnamed breaker reports under the name of the stack or environment
//! it is built in, else `breaker`.
//!
//! # Cost
//!
//! In the closed state, admission is one atomic load and recording is a
//! few atomic updates; no lock, no allocation, and no clock read unless
//! slow calls are timed or the window is time-based. A rejection
//! allocates once (the boxed [`Rejected`]). `poll_ready` only passes on
//! the inner service's readiness.
//!
//! # Example
//!
//! ```
//! use buttress_breaker::{BackoffConfig, BreakerConfig, CircuitBreakerLayer, SlowCallConfig, WindowConfig};
//! use buttress_core::layer::LayerBuilder;
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! let breaker = CircuitBreakerLayer::builder()
//!     .with_config(BreakerConfig {
//!         window: WindowConfig::Count { size: 100 },
//!         failure_rate: 50.0,
//!         slow_calls: Some(SlowCallConfig { threshold: Duration::from_secs(1), rate: 80.0 }),
//!         minimum_calls: 20,
//!         wait: Duration::from_secs(30),
//!         backoff: BackoffConfig { multiplier: 2.0, max_wait: Duration::from_secs(300), jitter: 0.1 },
//!         ..BreakerConfig::default()
//!     })
//!     .name("payments")
//!     .build()
//!     .unwrap();
//! let handle = breaker.handle();
//!
//! let client = ServiceBuilder::new().layer(breaker).service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! # drop(client);
//! assert_eq!(handle.stats().calls, 0);
//! ```
//!
//! [`Classify`]: buttress_core::Classify
//! [`DefaultClassifier`]: buttress_core::layer::DefaultClassifier
//! [`LayerConfig`]: buttress_core::layer::LayerConfig
//! [`LayerBuilder`]: buttress_core::layer::LayerBuilder
//! [`LayerConfig::build_in`]: buttress_core::layer::LayerConfig::build_in
//! [`Rejected`]: buttress_core::Rejected
//! [`Reason::CircuitOpen`]: buttress_core::Reason::CircuitOpen
#![forbid(unsafe_code)]

mod body_end;
mod config;
mod future;
mod handle;
mod keyed;
mod layer;
mod machine;
mod service;
mod shared;
mod sync;
mod track;
mod window;

pub use self::body_end::{
    BodyEndBody, BodyEndCircuitBreaker, BodyEndCircuitBreakerLayer, BodyEndResponseFuture,
};
pub use self::config::{
    BackoffConfig, BreakerConfig, CircuitBreakerLayerBuilder, ConfigError, MAX_KEYED_MEMORY,
    SlowCallConfig, WindowConfig,
};
pub use self::future::ResponseFuture;
pub use self::handle::{CircuitBreakerHandle, Stats, Transitions};
pub use self::keyed::{KeyedCircuitBreaker, KeyedCircuitBreakerHandle, KeyedCircuitBreakerLayer};
pub use self::layer::CircuitBreakerLayer;
pub use self::machine::state::{State, Transition};
pub use self::service::CircuitBreaker;
