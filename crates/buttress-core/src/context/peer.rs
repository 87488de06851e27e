//! [`PeerAddr`]: the caller's socket address, wherever the server put it.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

/// The caller's socket address, as a request extension: what per-IP rate
/// limits key on and what [`TrustPolicy::peers`](super::TrustPolicy::peers)
/// checks.
///
/// Layers read it with [`PeerAddr::find`], which also takes the address
/// the common servers leave in the extensions, so that no adapter is
/// needed:
///
/// | server | what it leaves | needs |
/// | --- | --- | --- |
/// | `buttress::serve` | a `PeerAddr` | nothing |
/// | axum | `ConnectInfo<SocketAddr>` | `into_make_service_with_connect_info::<SocketAddr>()` and the `axum` feature |
/// | tonic | `TcpConnectInfo` | the `tonic-server` feature |
/// | hyper / hyper-util by hand | nothing | `PeerAddr(remote)` as a layer on each connection's service |
///
/// As a layer, a `PeerAddr` puts itself into every request's extensions:
/// the one line a hand-written hyper accept loop needs.
///
/// ```
/// use buttress_core::context::PeerAddr;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let remote: std::net::SocketAddr = "127.0.0.2:40000".parse().unwrap();
/// let app = tower::service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(PeerAddr::find(req.extensions()))
/// });
/// let per_connection = PeerAddr(remote).layer(app);
/// let seen = per_connection.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(seen, Some(remote));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl PeerAddr {
    /// The caller's address from `extensions`: a [`PeerAddr`], else
    /// axum's `ConnectInfo<SocketAddr>` (feature `axum`), else tonic's
    /// `TcpConnectInfo` (feature `tonic-server`).
    pub fn find(extensions: &Extensions) -> Option<SocketAddr> {
        if let Some(peer) = extensions.get::<PeerAddr>() {
            return Some(peer.0);
        }
        #[cfg(feature = "axum")]
        if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
            return Some(info.0);
        }
        #[cfg(feature = "tonic-server")]
        if let Some(info) = extensions.get::<tonic::transport::server::TcpConnectInfo>() {
            return info.remote_addr();
        }
        None
    }
}

impl<S> Layer<S> for PeerAddr {
    type Service = WithPeer<S>;

    fn layer(&self, inner: S) -> WithPeer<S> {
        WithPeer { inner, peer: *self }
    }
}

/// A service that puts its connection's [`PeerAddr`] into every request.
#[derive(Debug, Clone)]
pub struct WithPeer<S> {
    inner: S,
    peer: PeerAddr,
}

impl<S, B> Service<Request<B>> for WithPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<B>) -> S::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}
