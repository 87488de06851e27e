//! The edge: where rejections become answers.
//!
//! Place [`EdgeLayer`] outside every layer that can refuse a request and
//! inside the metrics and context layers. It turns what the stack below it
//! fails with into the answer a client understands, so no handler and no
//! layer needs glue code:
//!
//! | inner outcome | HTTP | gRPC (trailers-only) |
//! | --- | --- | --- |
//! | `Rejected` rate limited | 429 + `Retry-After` | RESOURCE_EXHAUSTED + `grpc-retry-pushback-ms` |
//! | `Rejected` shed, bulkhead full, queue timeout, overloaded | 503 + `Retry-After` | RESOURCE_EXHAUSTED |
//! | `Rejected` circuit open, throttled, fault injected | 503 + `Retry-After` | UNAVAILABLE |
//! | `Rejected` timeout, deadline exceeded | 504 | DEADLINE_EXCEEDED |
//! | any other error | 500, logged | INTERNAL, logged |
//! | a panic in the inner service | 500, logged | INTERNAL, logged |
//!
//! Its error type is [`Infallible`](std::convert::Infallible): axum,
//! tonic and hyper's `serve_connection` inside `tokio::spawn` all accept
//! it, and a server never fails in `poll_ready` (an inner readiness error
//! is answered in the response instead). The `Rejected` is put into the
//! response extensions so outer layers can label what happened. A request
//! is answered in gRPC form when its `content-type` starts with
//! `application/grpc`; an HTTP body is JSON when the request accepts JSON.
//!
//! ```
//! use buttress::edge::EdgeLayer;
//! use buttress::{BoxError, Reason, Rejected};
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let refusing = tower::service_fn(|_req: http::Request<()>| async {
//!     let rejected = Rejected::new(Reason::CircuitOpen).with_retry_after(Duration::from_secs(3));
//!     Err::<http::Response<http_body_util::Empty<bytes::Bytes>>, BoxError>(rejected.into())
//! });
//! let res = EdgeLayer::new().layer(refusing).oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 503);
//! assert_eq!(res.headers()["retry-after"], "3");
//! assert_eq!(res.extensions().get::<Rejected>().unwrap().reason(), Reason::CircuitOpen);
//! # }
//! ```

mod answer;
mod body;
mod future;
mod layer;
mod service;

pub use self::body::EdgeBody;
pub use self::future::ResponseFuture;
pub use self::layer::EdgeLayer;
pub use self::service::Edge;
