//! Fallback answers: a page should not die because its recommendations
//! box did.
//!
//! Some dependencies are optional to the answer: recommendations, avatars,
//! a "recently viewed" strip. When such a call fails, the honest answer is
//! a smaller page, not an error page. [`FallbackLayer`] sits in that
//! dependency's client stack, above the retry and the breaker
//! (`context → metrics → fallback → retry → throttle → breaker → bulkhead
//! → timeout → chaos → transport`), and when the call fails it answers
//! instead with
//!
//! - a fixed response ([`FallbackConfig::response`] as data,
//!   [`respond_with`](FallbackLayerBuilder::respond_with) in code),
//! - a response built from the request's head and the [`Failure`]
//!   ([`respond_fn`](FallbackLayerBuilder::respond_fn)), or
//! - the last good answer for the same key, served stale
//!   ([`FallbackConfig::stale`]) from a cache bounded in keys, age, body
//!   size and bytes (keys and headers counted with the bodies), with the
//!   fixed or built response behind it for keys never seen.
//!
//! Like every Buttress layer its settings are data ([`FallbackConfig`],
//! loadable from TOML), which its builder sets
//! too with `.configure(..)` or `.with_config(..)`; the builder adds only
//! what is code — an answer or answer function, a stale-cache key
//! function, a classifier. It is observed through its handle
//! ([`FallbackHandle`]); see [`buttress_core::layer`].
//!
//! # When
//!
//! - The call *fails*: its result is judged by the same [`Classify`] as
//!   the breaker and the retry ([`DefaultClassifier`] by default: the
//!   `grpc-status` when the answer carries one, else 5xx and 429; and
//!   transport errors), so "failed" means one thing in the whole stack.
//! - The call is *rejected*: a [`Rejected`] anywhere in the error's chain
//!   whose reason is in the layer's set (default: all) — the circuit is
//!   open, the bulkhead is full, the timeout ran out, a fault was injected.
//!   A rejection for a reason outside the set passes through.
//! - Only for reads by default (GET and HEAD): a write never silently gets
//!   a made-up answer. Other methods pass through untouched.
//!
//! # Marked and reported
//!
//! Degradation must be visible, or it becomes the normal state unnoticed.
//! Every fallback answer carries a header, `x-fallback: <cause>` by
//! default, where the cause is the rejection's reason with `-` for `_`
//! (`circuit-open`, `fault-injected`) or `failure`; a stale answer also
//! carries `Age`. The [`FallbackCause`] is put in the response extensions,
//! and the layer reports [`Event::FallbackServed`] to telemetry.
//!
//! # Cost
//!
//! A call the layer does not cover costs a method comparison. A covered
//! call moves its request head out and back only when the stale cache or a
//! function fallback needs it (the key is built — one allocation — and,
//! for a function, the head is cloned). A good answer is copied into the
//! stale cache at most once per key per refresh interval, as its body
//! streams through, without delaying it; in between it costs a shared
//! lock. Futures are named types; no boxing.
//!
//! Errors of the inner service's `poll_ready` are held and answered by
//! the next call (with a fallback, if it is covered), as a server stack
//! must never fail in `poll_ready`.
//!
//! # The stale cache's clock and map
//!
//! Ages are read on tokio's clock (through [`buttress_core::clock`]), so
//! tests on a paused clock see the cache age. The cache keeps its own
//! bounded map rather than core's `KeyedMap`: a full `KeyedMap` hands new
//! keys a shared overflow entry, which here would serve one request's
//! answer for another's; a full stale cache instead keeps no new key
//! until its answers expire.
//!
//! # Example
//!
//! ```
//! use buttress_core::layer::LayerBuilder;
//! use buttress_fallback::FallbackLayer;
//! use buttress_core::{BoxError, Reason, Rejected};
//! use http_body_util::BodyExt;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let open_circuit = tower::service_fn(|_req: http::Request<()>| async {
//!     Err::<http::Response<http_body_util::Full<bytes::Bytes>>, BoxError>(
//!         Rejected::new(Reason::CircuitOpen).into(),
//!     )
//! });
//! let recommendations = FallbackLayer::builder()
//!     .name("recommendations")
//!     .respond_with(http::Response::new("[]"))
//!     .build()
//!     .unwrap()
//!     .layer(open_circuit);
//!
//! let res = recommendations.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["x-fallback"], "circuit-open");
//! assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "[]");
//! # }
//! ```
//!
//! [`Classify`]: buttress_core::Classify
//! [`DefaultClassifier`]: buttress_core::layer::DefaultClassifier
//! [`Rejected`]: buttress_core::Rejected
//! [`FallbackCause`]: buttress_core::telemetry::FallbackCause
//! [`Event::FallbackServed`]: buttress_core::telemetry::Event::FallbackServed

#![forbid(unsafe_code)]

mod answer;
mod body;
mod config;
mod future;
mod layer;
mod serde_names;
mod service;
mod shared;
mod stale;

pub use self::answer::Failure;
pub use self::body::{FallbackBody, Recorded};
pub use self::config::{FallbackConfig, FallbackResponse, StaleConfig};
pub use self::future::ResponseFuture;
pub use self::layer::{FallbackHandle, FallbackLayer, FallbackLayerBuilder, X_FALLBACK};
pub use self::service::Fallback;
pub use buttress_core::telemetry::FallbackCause;
