//! The [`Red`] service.

use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::RequestContext;
use buttress_core::answer::Protocol;
use buttress_core::context::TrustRequest;
use buttress_core::grpc::is_grpc;
use buttress_core::{chain, clock};
use http::{Request, Response};
use tokio::time::Instant;
use tower_service::Service;

use super::body::RedBody;
use super::future::{InFlight, ResponseFuture};
use super::labels::{Shape, method_index};
use super::layer::{RedSide, Shared};
use super::table::ServerIndex;

/// Records RED metrics around its inner service; built by
/// [`RedLayer`](super::RedLayer), or left out of a stack by its
/// [`Bypass`](buttress_core::layer::Bypass), recording nothing. Errors
/// pass through unchanged (on a server, outside the edge, there are none).
#[derive(Clone)]
pub struct Red<S> {
    inner: S,
    /// `None`: metrics are off; bodies are wrapped all the same.
    shared: Option<Arc<Shared>>,
    /// A client's last server, as its requests name it, and its index: a
    /// client stack's calls name one dependency, so most find it here
    /// and skip hashing it into the shared table under its lock.
    last_server: Option<(Arc<str>, ServerIndex)>,
}

impl<S> Red<S> {
    pub(super) fn new(inner: S, shared: Option<Arc<Shared>>) -> Self {
        Red {
            inner,
            shared,
            last_server: None,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Red<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Red").field("inner", &self.inner).finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Red<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
{
    type Response = Response<RedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(shared) = &self.shared else {
            return ResponseFuture::new(self.inner.call(request), None);
        };
        let start = match shared.side {
            // The request's start: the outermost layer's reading for this
            // call chain, else its context's (put there by a context
            // layer), else now.
            RedSide::Server => chain::start().unwrap_or_else(|| {
                RequestContext::with_request(&request, |ctx| ctx.map(RequestContext::start))
                    .unwrap_or_else(Instant::now)
            }),
            // The call's start, never the context's: the context a client
            // call carries started with the request being served, before
            // this call was made.
            RedSide::Client => clock::now(),
        };
        // Read once: the shape and the route both depend on it. A server
        // request's protocol was noted by the context layer outside, when
        // there is one; a client call is a chain of its own.
        let grpc = match shared.side {
            RedSide::Server => {
                chain::protocol().map_or_else(|| is_grpc(request.headers()), Protocol::is_grpc)
            }
            RedSide::Client => is_grpc(request.headers()),
        };
        let (route, pending) = match &shared.routes {
            Some(routes) => {
                let route = routes.route(&TrustRequest::of(&request), shared.max_route_len, grpc);
                shared.slot(route)
            }
            None => (0, None),
        };
        let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let shape = if grpc {
            Shape::grpc(https)
        } else {
            Shape::http(method_index(request.method()), https)
        };
        let server = match shared.side {
            RedSide::Server => 0,
            RedSide::Client => match (&self.last_server, named_authority(&request)) {
                // The cached name holds no user info, so a request naming
                // exactly it names no user info either.
                (Some((name, index)), Some(named)) if **name == *named => *index,
                (_, named) => {
                    let index = shared
                        .table
                        .server_index(named.map(without_user_info), shared.max_route_len);
                    self.last_server = shared.table.server_name(index).map(|name| (name, index));
                    index
                }
            },
        };
        let in_flight = InFlight::start(shared.clone(), start, route, pending, server, shape);
        ResponseFuture::new(self.inner.call(request), Some(in_flight))
    }
}

/// The server a client request names, as it names it: its URI's
/// authority, else its `Host` header.
fn named_authority<B>(request: &Request<B>) -> Option<&str> {
    match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => request.headers().get(http::header::HOST)?.to_str().ok(),
    }
}

/// An authority without its user info (never a label).
fn without_user_info(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}
