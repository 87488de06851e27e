//! Operating a service live: its stacks follow `examples/service.toml`
//! (edit the file — a bulkhead's limit, a breaker's wait — and the
//! running server takes it within a second, or refuses it with the field
//! path), and an admin router answers on a listener of its own, bound to
//! loopback: never merged into the public router.
//!
//! `cargo run --example live_ops --all-features`, then
//! `curl localhost:<admin>/layers`, `curl localhost:<admin>/config`,
//! `curl -N localhost:<admin>/events` and `kill -HUP <pid>`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::config::{Reloader, ServiceConfig};
use buttress::metrics::Health;
use tokio::net::TcpListener;

/// Serves the API on `public` and the admin router on `admin`, both
/// following the config file at `path`; returns the reloader.
pub(crate) async fn start(
    path: &Path,
    health: Health,
    public: TcpListener,
    admin: TcpListener,
) -> Reloader {
    let config = ServiceConfig::from_path(path).expect("a valid config file");
    let server = config.build_server().expect("a valid server stack");
    let reloader = Reloader::new(path).server(&server).announce_to(&health);
    reloader.watch(Duration::from_secs(1));
    #[cfg(unix)]
    reloader.reload_on_sighup().expect("a SIGHUP handler");

    let api = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(server);
    tokio::spawn(async move { buttress::serve::serve(public, api).await.expect("api") });

    // Operators only: its own listener, on loopback.
    let ops = buttress::admin::with_reloader(buttress::admin::router(health), reloader.clone());
    tokio::spawn(async move { axum::serve(admin, ops).await.expect("admin") });
    reloader
}

async fn bind(addr: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("a free port");
    let local = listener.local_addr().expect("bound");
    (listener, local)
}

#[allow(dead_code)] // tests/examples_live_ops.rs includes this file for `start`
#[tokio::main]
async fn main() {
    let health = buttress::metrics::install().expect("the first sink of this process");
    let (public, api) = bind("127.0.0.1:0").await;
    let (admin, ops) = bind("127.0.0.1:0").await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/service.toml");
    start(&path, health, public, admin).await;
    println!(
        "api on http://{api}, admin on http://{ops} (pid {})",
        std::process::id()
    );
    tokio::signal::ctrl_c().await.expect("ctrl-c");
}
