//! The one timeout layer: a layer's own limit, or the request's deadline,
//! whichever ends first.
//!
//! Every stack uses this layer: innermost on a server, just above the
//! handler (so the handler, not a queue above it, is what the deadline
//! ends), and per attempt in a client stack, inside the retry and below
//! the breaker and the bulkhead (only fault injection sits under it), so a
//! hung dependency counts as a failure and trips the breaker.
//!
//! On expiry the inner future is dropped and the call fails with
//! [`Rejected`](crate::Rejected) — [`Reason::Timeout`](crate::Reason::Timeout)
//! when the layer's own limit ran out, [`Reason::DeadlineExceeded`](crate::Reason::DeadlineExceeded)
//! when the request's propagated deadline did — marked as sent, so
//! classifiers count it as the dependency's failure. A request whose
//! deadline is already spent on arrival is refused without calling the
//! inner service (not sent: nobody is blamed).
//!
//! ```
//! use buttress_core::timeout::TimeoutLayer;
//! use buttress_core::{Reason, Rejected};
//! use std::time::Duration;
//! use tower::{Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let slow = tower::service_fn(|_req: http::Request<()>| async {
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! });
//! let mut svc = TimeoutLayer::new(Duration::from_millis(250)).unwrap().layer(slow);
//! let err = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap_err();
//! assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Timeout);
//! # }
//! ```

mod de;
mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::{TimeoutConfig, TimeoutHandle, TimeoutLayer, TimeoutLayerBuilder};
pub use self::service::Timeout;
