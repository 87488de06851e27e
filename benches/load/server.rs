//! A hyper 1 HTTP/1 server on an OS thread of its own, running a
//! current-thread tokio runtime: everything the server does for a request
//! (parsing, the layers, the handler, writing the answer) happens on that
//! one thread, so its CPU time is the server's and nothing else's, and the
//! load generator in the same process cannot borrow its runtime.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::oneshot;
use tower::{BoxError, Service};

/// A running server; dropping it stops the server (its connections are
/// dropped with its runtime) and joins its thread.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `service` on 127.0.0.1 at an ephemeral port, on a new
    /// thread named `name`. `on_thread` runs first on that thread, and
    /// what it returns is handed back (to identify the thread, say).
    ///
    /// Each connection is served by a clone of `service`, and each request
    /// by a clone of that (`clone().oneshot(req)`, as axum and hyper-util's
    /// `TowerToHyperService` do): state shared by clones is shared by the
    /// whole server.
    pub(crate) fn start<S, B, T>(
        name: &str,
        service: S,
        on_thread: impl FnOnce() -> T + Send + 'static,
    ) -> (Server, T)
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        T: Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("bound");
        let (stop, stopped) = oneshot::channel();
        let (identity_tx, identity_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = identity_tx.send(on_thread());
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(accept_until_stopped(listener, service, stopped));
            })
            .expect("a server thread");
        let identity = identity_rx.recv().expect("the server thread started");
        let server = Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, identity)
    }

    /// Where the server listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_until_stopped<S, B>(
    listener: std::net::TcpListener,
    service: S,
    mut stopped: oneshot::Receiver<()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = tokio::net::TcpListener::from_std(listener).expect("inside a runtime");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: the load generator sees
                // the failed connection; keep serving the others.
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        // Answers must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // A client closing its connection mid-request is an outcome
            // the load generator counts, not a server failure.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
