//! RED metrics — rate, errors, duration — for servers and clients.
//!
//! [`RedLayer::server`] records `http.server.request.duration`,
//! `buttress.http.server.requests`, `buttress.http.server.errors` and
//! `http.server.active_requests`; [`RedLayer::client`] the `client`
//! counterparts. Labels: `buttress.name` (the stack or dependency),
//! `http.request.method` (`_OTHER` for non-standard methods),
//! `http.route` (see [`RouteSource`]; never the raw URI, and at most a
//! capped number of values), `http.response.status_class`,
//! `buttress.outcome` (`success`, `failure`, `cancelled`, `rejected`) and
//! `buttress.reason` (the rejection's reason, from the `Rejected` the edge
//! leaves in the response extensions).
//!
//! Place it outside the edge on a server, so it sees final status codes
//! and the edge's rejections. Each label combination's handles are
//! resolved on its first request; after that a request costs a clock
//! read, a shared-lock route lookup and atomic increments.
//!
//! For a streamed gRPC answer the status arrives in trailers, after the
//! layer has recorded the response head: it is recorded by its head
//! (success unless the head carries an error status).

mod future;
mod labels;
mod layer;
mod route;
mod service;
mod table;

pub use self::future::ResponseFuture;
pub use self::layer::{RedLayer, RedLayerBuilder};
pub use self::route::RouteSource;
pub use self::service::Red;
