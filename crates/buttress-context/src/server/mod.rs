//! The server side: fill a [`RequestContext`](buttress_core::RequestContext)
//! from the inbound request, keep it for the life of the request, and echo
//! the correlation ID on the response.
//!
//! Place [`ServerContextLayer`] outermost (with axum, `Router::layer` so it
//! wraps the edge and the timeout). Per request it:
//!
//! 1. reads the clock once — the start instant every inner layer uses;
//! 2. accepts a trusted caller's valid correlation ID, or makes one;
//! 3. reads `traceparent`/`tracestate` strictly, or starts a new trace;
//! 4. from a *trusted* caller only: the deadline (`grpc-timeout` or the
//!    configured milliseconds header, capped by the server's own limit),
//!    the criticality and the raw fault directive;
//! 5. makes the context the current one while the inner service is
//!    called and while its response future runs
//!    ([`Scoped`](buttress_core::context::Scoped)): inner layers, the
//!    handler and client layers read it there
//!    ([`RequestContext::current`](buttress_core::RequestContext::current));
//!    no copy rides in the request's extensions, so a handler that moves
//!    the request to another task takes the context along with
//!    [`spawn_with_context`](buttress_core::context::spawn_with_context);
//! 6. runs the request inside a `tracing` span `request{request_id=…}`;
//! 7. writes the ID on the response — whatever answered it, the edge
//!    included.
//!
//! What it allocates per request is the response header and — only for a
//! generated ID — the ID's 36 bytes. Accepted header values are shared,
//! not copied.
//!
//! ```
//! use buttress_context::server::ServerContextLayer;
//! use buttress_core::{RequestContext, TrustPolicy};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let handler = tower::service_fn(|_req: http::Request<()>| async {
//!     // The handler (and any client layer it calls) sees the context.
//!     let id = RequestContext::current().unwrap().correlation_id().unwrap().to_string();
//!     Ok::<_, std::convert::Infallible>(http::Response::new(id))
//! });
//! let layer = ServerContextLayer::internal(TrustPolicy::always());
//! let req = http::Request::get("/").header("x-request-id", "abc-123").body(()).unwrap();
//! let res = layer.layer(handler).oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-request-id"], "abc-123");
//! assert_eq!(res.body(), "abc-123");
//! # }
//! ```

mod builder;
mod config;
mod future;
mod layer;
mod read;
mod service;

pub use self::builder::ServerContextLayerBuilder;
pub use self::config::{ServerContextConfig, TrustConfig};
pub use self::future::ResponseFuture;
pub use self::layer::{ServerContextHandle, ServerContextLayer};
pub use self::service::ServerContext;
