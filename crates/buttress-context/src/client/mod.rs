//! The client side: write the current request's context onto every
//! outbound call.
//!
//! [`ClientContextLayer`] goes outermost in a client stack. For each call
//! it finds the [`RequestContext`](buttress_core::RequestContext) — in the
//! outbound request's extensions, else the current one the server layer set
//! — and writes:
//!
//! - the correlation ID;
//! - a `traceparent` with the same trace ID and a fresh span ID (this
//!   call is a child of the request being served), and the `tracestate`;
//! - the remaining deadline less a margin, as `grpc-timeout` for gRPC
//!   (`content-type: application/grpc…`) or the milliseconds header for
//!   HTTP. A shorter timeout the request already carries (tonic's
//!   `set_timeout`) is kept; a longer one — a caller's header the handler
//!   copied onto the call, say — is cut to the time left, in either
//!   header. With nothing left the call is refused at once with
//!   [`Reason::DeadlineExceeded`](buttress_core::Reason::DeadlineExceeded),
//!   unsent;
//! - the criticality and the raw fault directive — the context's, never
//!   ones already on the request: a copied criticality is overwritten, a
//!   copied directive removed, so a handler forwarding its caller's
//!   headers cannot launder them into a trusted hop's.
//!
//! Without a context (a call made outside any request) the request passes
//! unchanged. It works over `http::Request` (hyper-util's client, tonic's
//! `Channel`) and, with feature `reqwest`, over `reqwest::Request`.
//!
//! ```
//! use buttress_context::client::ClientContextLayer;
//! use buttress_core::{Reason, Rejected, RequestContext};
//! use buttress_core::context::CorrelationId;
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let transport = tower::service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(req.headers().clone()))
//! });
//! let client = ClientContextLayer::new().layer(transport);
//!
//! let ctx = RequestContext::starting_now()
//!     .with_correlation_id(CorrelationId::parse(b"abc-123").unwrap())
//!     .with_deadline(tokio::time::Instant::now() + Duration::from_millis(200));
//! let seen = ctx.clone().scope(client.clone().oneshot(http::Request::new(()))).await.unwrap();
//! assert_eq!(seen.body()["x-request-id"], "abc-123");
//! assert_eq!(seen.body()["x-request-timeout-ms"], "195"); // less the 5 ms margin
//!
//! tokio::time::advance(Duration::from_millis(300)).await;
//! let err = ctx.scope(client.oneshot(http::Request::new(()))).await.unwrap_err();
//! assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::DeadlineExceeded);
//! # }
//! ```

mod builder;
mod config;
mod inject;
mod layer;
mod service;

pub use self::builder::ClientContextLayerBuilder;
pub use self::config::ClientContextConfig;
pub use self::layer::{ClientContextHandle, ClientContextLayer};
pub use self::service::ClientContext;
