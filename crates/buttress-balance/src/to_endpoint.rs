//! One HTTP client, many replicas: [`ToEndpoint`] points each request at
//! one endpoint's address.
//!
//! hyper-util's `Client` (and any tower HTTP client that connects to the
//! request URI's authority) is one client for every host; the balancer
//! needs one service per endpoint. [`per_endpoint`] makes that maker from
//! the client users already have: each endpoint's service is a clone of
//! the client (sharing its connection pool) that rewrites the request
//! URI's scheme and authority to the endpoint's, keeping the path and
//! query, and leaves any `Host` header the caller set (virtual hosting)
//! alone.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use tower_service::Service;

/// A client that sends every request to one endpoint (see the
/// [module documentation](self)).
///
/// ```
/// use buttress_balance::to_endpoint::ToEndpoint;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = tower::service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(req.uri().to_string())
/// });
/// let to = ToEndpoint::new(client, "10.0.0.7:8080".parse().unwrap());
/// let sent = to.oneshot(http::Request::get("/orders?id=7").body(()).unwrap()).await.unwrap();
/// assert_eq!(sent, "http://10.0.0.7:8080/orders?id=7");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ToEndpoint<S> {
    inner: S,
    scheme: Scheme,
    authority: Authority,
}

impl<S> ToEndpoint<S> {
    /// `inner`, sending over plain HTTP to `addr`.
    pub fn new(inner: S, addr: SocketAddr) -> Self {
        let authority = addr
            .to_string()
            .parse()
            .expect("a socket address is a valid authority");
        ToEndpoint {
            inner,
            scheme: Scheme::HTTP,
            authority,
        }
    }

    /// The same, over `scheme` (`https` for a client with TLS).
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }
}

impl<S, B> Service<http::Request<B>> for ToEndpoint<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        // Scheme, authority and path are all set: `from_parts` cannot fail.
        *request.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        self.inner.call(request)
    }
}

/// The endpoint maker for a client that connects wherever the request URI
/// points — hyper-util's `Client`, for one: each endpoint gets a clone of
/// `client` wrapped in [`ToEndpoint`].
///
/// ```
/// use buttress_balance::{BalanceLayer, to_endpoint};
/// use buttress_core::layer::LayerBuilder;
/// use tower::Layer;
///
/// let client = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let layer = BalanceLayer::builder()
///     .configure(|c| c.endpoints = vec!["127.0.0.1:8081".into(), "127.0.0.1:8082".into()])
///     .build()
///     .unwrap();
/// # let _rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # let _guard = _rt.enter();
/// let balanced = layer.layer(to_endpoint::per_endpoint(client));
/// # drop(balanced);
/// ```
pub fn per_endpoint<S: Clone>(client: S) -> impl Fn(&SocketAddr) -> ToEndpoint<S> + Clone {
    move |addr: &SocketAddr| ToEndpoint::new(client.clone(), *addr)
}
