//! Serving an axum `Router` (or any tower service) over hyper with the
//! bounds `axum::serve` lacks: a header-read timeout that also covers
//! protocol detection, a connection cap, and graceful shutdown.
//!
//! `axum::serve` builds hyper-util's auto connection builder with no
//! timer, so a client that opens a connection and sends part of a request
//! head — or nothing — holds a task, a socket and a file descriptor for
//! as long as it likes; enough of them exhaust the process' descriptors
//! and `/health/live` stops answering. hyper's own HTTP/1 header timer
//! needs a timer to run, and hyper-util's auto builder reads the first
//! bytes (to tell HTTP/1 from HTTP/2) with no timer at all (hyper issue
//! 3962). Here a [`Server`]:
//!
//! - reads the first bytes itself under
//!   [`header_read_timeout`](ServeConfig::header_read_timeout), then
//!   hands the connection to hyper's HTTP/1 builder (with a timer and the
//!   same header-read timeout) or its HTTP/2 builder (with keep-alive
//!   pings, and closed if its first request has not arrived by the same
//!   deadline);
//! - serves at most [`max_connections`](ServeConfig::max_connections) at
//!   once: at the cap it stops accepting, so new connections wait in the
//!   kernel's listen backlog rather than taking a descriptor each. It
//!   delays rather than accepting and closing (Envoy's overflow
//!   behaviour) because with the header timer every slot frees within a
//!   bounded time: a waiting client is served late instead of refused,
//!   and the server neither spends descriptors nor spins on an attacker
//!   that reconnects;
//! - puts each caller's address into its requests as a
//!   [`PeerAddr`] (and, with the `axum`
//!   feature, as axum's `ConnectInfo<SocketAddr>`), so per-IP rate limits
//!   and peer trust work with no adapter;
//! - on shutdown stops accepting, asks every connection to finish its
//!   requests, and waits up to [`drain_timeout`](ServeConfig::drain_timeout).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use buttress::serve::{ServeConfig, Server};
//!
//! # async fn run(stop: tokio::sync::oneshot::Receiver<()>) -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! Server::new(ServeConfig::default())
//!     .expect("a valid config")
//!     .serve_with_shutdown(listener, app, async {
//!         let _ = stop.await; // or tokio::signal::ctrl_c()
//!     })
//!     .await
//! # }
//! ```

mod config;
mod io;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_core::BoxError;
use buttress_core::config::ConfigError;
use buttress_core::context::PeerAddr;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower_layer::Layer;

pub use self::config::{DEFAULT_MAX_CONNECTIONS, MAX_HEADER_READ_TIMEOUT, ServeConfig};
use self::io::{Rewound, Version};

/// How long the accept loop waits after an error such as `EMFILE` (out of
/// descriptors) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` on `listener` with [`ServeConfig::default()`] until
/// the process ends — the drop-in replacement for `axum::serve`.
pub async fn serve<S, B>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Server::new(ServeConfig::default())
        .expect("the default config is valid")
        .serve(listener, service)
        .await
}

/// A hyper server with a header-read timeout and a connection cap; see
/// the [module docs](self).
#[derive(Debug)]
pub struct Server {
    config: ServeConfig,
    slots: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
}

/// Reads a [`Server`]'s connections while it runs.
#[derive(Debug, Clone)]
pub struct ServeHandle {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl ServeHandle {
    /// Connections open now (including those still sending their first
    /// bytes).
    pub fn connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The cap on [`connections`](Self::connections).
    pub fn max_connections(&self) -> usize {
        self.max
    }
}

impl Server {
    /// A server with `config`, checked.
    pub fn new(config: ServeConfig) -> Result<Server, ConfigError> {
        config.validate()?;
        Ok(Server {
            slots: Arc::new(Semaphore::new(config.max_connections)),
            open: Arc::new(AtomicUsize::new(0)),
            config,
        })
    }

    /// The config this server runs with.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// A handle reading this server's open connections.
    pub fn handle(&self) -> ServeHandle {
        ServeHandle {
            open: self.open.clone(),
            max: self.config.max_connections,
        }
    }

    /// Serves until the process ends.
    pub async fn serve<S, B>(self, listener: TcpListener, service: S) -> std::io::Result<()>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.serve_with_shutdown(listener, service, std::future::pending())
            .await
    }

    /// Serves until `signal` completes, then stops accepting, lets open
    /// connections finish their requests (up to
    /// [`drain_timeout`](ServeConfig::drain_timeout)) and returns.
    pub async fn serve_with_shutdown<S, B, F>(
        self,
        listener: TcpListener,
        service: S,
        signal: F,
    ) -> std::io::Result<()>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        F: Future<Output = ()> + Send,
    {
        let config = Arc::new(self.config);
        let (stop, stopped) = watch::channel(false);
        let mut signal = std::pin::pin!(signal);
        loop {
            // At the cap, wait for a slot before accepting: the listen
            // backlog holds new connections meanwhile.
            let permit = tokio::select! {
                permit = self.slots.clone().acquire_owned() => {
                    permit.expect("the semaphore is never closed")
                }
                () = signal.as_mut() => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        if !is_connection_error(&error) {
                            // Out of descriptors, most likely: back off.
                            tracing::error!(%error, "accept failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                        continue;
                    }
                },
                () = signal.as_mut() => break,
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(connection(
                stream,
                remote,
                service.clone(),
                config.clone(),
                stopped.clone(),
                Slot::new(permit, self.open.clone()),
            ));
        }
        drop(listener);
        let _ = stop.send(true);
        // Every slot back: every connection has finished.
        let all = u32::try_from(config.max_connections).expect("validated");
        let _ = tokio::time::timeout(config.drain_timeout, self.slots.acquire_many(all)).await;
        Ok(())
    }
}

/// Errors about one connection, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A connection's place under the cap, counted while it is held.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            open,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Marks that a connection has delivered a request.
#[derive(Clone)]
struct Seen<S> {
    inner: S,
    seen: Arc<AtomicBool>,
}

impl<S, R> tower_service::Service<R> for Seen<S>
where
    S: tower_service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.seen.store(true, Ordering::Relaxed);
        self.inner.call(request)
    }
}

/// Resolves once the server is shutting down (or gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Serves one connection, holding its slot until it closes.
async fn connection<S, B>(
    mut stream: TcpStream,
    remote: SocketAddr,
    service: S,
    config: Arc<ServeConfig>,
    mut stopped: watch::Receiver<bool>,
    _slot: Slot,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let deadline = Instant::now() + config.header_read_timeout;
    let (prefix, version) = match tokio::time::timeout_at(deadline, io::detect(&mut stream)).await {
        Ok(Ok(Some(detected))) => detected,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::debug!(%error, "connection failed before its first request");
            return;
        }
        Err(_) => {
            tracing::debug!("connection sent no request in time");
            return;
        }
    };
    let io = TokioIo::new(Rewound::new(prefix, stream));
    // Every request carries its caller's address, for per-IP rate limits
    // and peer trust — and, with axum, for its `ConnectInfo` extractor.
    let service = PeerAddr(remote).layer(service);
    #[cfg(feature = "axum")]
    let service = axum::Extension(axum::extract::ConnectInfo(remote)).layer(service);
    let result = match version {
        Version::Http1 => {
            let service = TowerToHyperService::new(service);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout);
            let conn = builder.serve_connection(io, service).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => result,
                () = stop_requested(&mut stopped) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        }
        Version::Http2 => {
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .keep_alive_interval(config.http2_keep_alive_interval)
                .keep_alive_timeout(config.http2_keep_alive_timeout);
            // hyper runs no header timer for HTTP/2: a connection that
            // sends the preface and then nothing would keep its slot until
            // keep-alive gives up. Like nginx's `client_header_timeout`, the
            // first request must arrive by the header-read deadline.
            let seen = Arc::new(AtomicBool::new(false));
            let service = Seen {
                inner: service,
                seen: seen.clone(),
            };
            let conn = builder.serve_connection(io, TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            let mut first = std::pin::pin!(tokio::time::sleep_until(deadline));
            let mut waiting = true;
            loop {
                tokio::select! {
                    result = conn.as_mut() => break result,
                    () = first.as_mut(), if waiting => {
                        if !seen.load(Ordering::Relaxed) {
                            tracing::debug!("HTTP/2 connection sent no request in time");
                            return;
                        }
                        waiting = false;
                    }
                    () = stop_requested(&mut stopped) => {
                        conn.as_mut().graceful_shutdown();
                        break conn.await;
                    }
                }
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection closed with an error");
    }
}
