//! Request context across hops: correlation ID, W3C trace context,
//! deadline, criticality and fault directive, as tower layers.
//!
//! When a request crosses five services, its ID, its trace, its remaining
//! time and its importance must cross with it, without every handler
//! passing them by hand. Core defines the
//! [`RequestContext`](buttress_core::RequestContext) and the
//! [`TrustPolicy`](buttress_core::TrustPolicy); this crate holds the two
//! layers that move it:
//!
//! - [`ServerContextLayer`] fills the context from the inbound request —
//!   taking from the caller only what its trust policy allows — makes it
//!   the current context while the inner service is called and while the
//!   request future runs, opens a `tracing` span carrying the ID, and
//!   echoes the ID on the response ([`server`]);
//! - [`ClientContextLayer`] writes it onto every outbound call: ID,
//!   `traceparent` with a fresh span ID, `tracestate`, the remaining
//!   deadline less a margin, criticality and fault directive, refusing at
//!   once when no time is left ([`client`]).
//!
//! Both keep the contract of [`buttress_core::layer`]: every setting is
//! data and lives in the config ([`ServerContextConfig`],
//! [`ClientContextConfig`]; loadable from TOML), built with
//! `from_config`. In code, `builder()` changes that config with
//! [`configure`](buttress_core::layer::LayerBuilder::configure) and adds
//! only what data cannot say: a
//! [`TrustPolicy`](buttress_core::TrustPolicy) built in code and a custom
//! [`MakeCorrelationId`](id::MakeCorrelationId), on the server's builder.
//! The presets (`ServerContextLayer::public()`, `internal(..)`,
//! `ClientContextLayer::new()`, …) build common configs ready-made, and
//! `handle()` reads the settings. Add the layers to a `ServiceBuilder`
//! with `.layer(..)`.
//!
//! The parsers of untrusted input live in their own modules: [`trace`]
//! (strict W3C), [`deadline`], [`id`]. The current context does not
//! follow `tokio::spawn`: use [`spawn_with_context`] for work spawned from a
//! handler.
//!
//! ```
//! use buttress_context::{ClientContextLayer, ServerContextLayer};
//! use buttress_core::TrustPolicy;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A dependency that shows what it received.
//! let dependency = tower::service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(req.headers().clone()))
//! });
//! let client = ClientContextLayer::new().layer(dependency);
//!
//! // A handler calling it; no context is passed by hand.
//! let handler = tower::service_fn(move |_req: http::Request<()>| {
//!     let client = client.clone();
//!     async move { client.oneshot(http::Request::new(())).await }
//! });
//! let server = ServerContextLayer::internal(TrustPolicy::always()).layer(handler);
//!
//! let req = http::Request::get("/").header("x-request-id", "abc-123").body(()).unwrap();
//! let res = server.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-request-id"], "abc-123"); // echoed
//! assert_eq!(res.body()["x-request-id"], "abc-123"); // forwarded
//! assert!(res.body().contains_key("traceparent"));
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod client;
pub mod deadline;
pub mod headers;
mod hex;
pub mod id;
#[cfg(feature = "opentelemetry")]
pub mod otel;
pub mod server;
pub mod trace;

pub use buttress_core::context::spawn_with_context;

pub use self::client::{
    ClientContext, ClientContextConfig, ClientContextHandle, ClientContextLayer,
    ClientContextLayerBuilder,
};
pub use self::server::{
    ServerContext, ServerContextConfig, ServerContextHandle, ServerContextLayer,
    ServerContextLayerBuilder, TrustConfig,
};
