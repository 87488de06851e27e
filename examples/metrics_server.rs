//! A shop API that calls an inventory service, with RED metrics, every
//! layer's metrics, health endpoints and Prometheus text at `/metrics`.
//!
//! ```text
//! cargo run --example metrics_server --all-features -- --port 3000
//! curl localhost:3000/orders/7
//! curl localhost:3000/metrics
//! ```
//!
//! `--port` defaults to 0 (a free port; the address is printed).
//! `--inventory http://host:port` names the inventory service; without
//! it, a stand-in runs in this process (its `/stock/down` always fails,
//! `/stock/flaky-*` fails once).
//!
//! The server stack (`shop`) limits each caller's rate and bounds every
//! request's time; the client stack (`inventory`) retries, breaks the
//! circuit, and falls back to "stock unknown" for reads. Every name and
//! label in `/metrics` is in `buttress_metrics`' table
//! (`buttress::metrics::names::METRICS`); `tests/metrics_prometheus.rs`
//! runs this app, scripts traffic through it and checks `/metrics` with
//! `promtool check metrics`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use buttress::breaker::{BreakerConfig, WindowConfig};
use buttress::core::layer::LayerBuilder;
use buttress::fallback::{FallbackLayer, X_FALLBACK};
use buttress::limit::rate::{KeySource, QuotaConfig, RateLimitConfig};
use buttress::metrics::{Health, LATENCY_BUCKETS};
use buttress::stack::{ClientStack, ServerStack};
use buttress::{BoxError, Rejected};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

/// What the command line sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// The port to serve on; 0 for a free one.
    pub(crate) port: u16,
    /// The inventory service's base URI; `None` runs a stand-in.
    pub(crate) inventory: Option<http::Uri>,
}

impl Options {
    /// Reads `--port N` and `--inventory URI`.
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            port: 0,
            inventory: None,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--port" => {
                    let port = value()?;
                    options.port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
                }
                "--inventory" => {
                    let uri = value()?;
                    options.inventory = Some(uri.parse().map_err(|_| format!("bad URI {uri:?}"))?);
                }
                other => {
                    return Err(format!(
                        "unknown argument {other:?}; use --port N, --inventory URI"
                    ));
                }
            }
        }
        Ok(options)
    }
}

/// Installs the Prometheus recorder — every Buttress histogram (all named
/// `…duration`) with explicit buckets, Prometheus naming — then Buttress'
/// telemetry sink. Once per process: a later call returns what the first
/// installed (`tests/ops_rules.rs` reads `/metrics` again after its run).
pub(crate) fn install() -> (PrometheusHandle, Health) {
    static INSTALLED: OnceLock<(PrometheusHandle, Health)> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let prometheus = PrometheusBuilder::new()
                .with_recommended_naming(true)
                .set_buckets_for_metric(Matcher::Suffix("duration".into()), &LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .expect("the first recorder of this process");
            let health = buttress::metrics::install().expect("the first sink of this process");
            (prometheus, health)
        })
        .clone()
}

/// A stand-in inventory service on a free port of 127.0.0.1.
pub(crate) async fn stand_in_inventory() -> SocketAddr {
    let flaky_seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    let stock = move |Path(id): Path<String>| {
        let first =
            id.starts_with("flaky") && flaky_seen.lock().expect("held briefly").insert(id.clone());
        async move {
            if id == "down" || first {
                return (StatusCode::SERVICE_UNAVAILABLE, "inventory unavailable").into_response();
            }
            format!(r#"{{"id":"{id}","stock":3}}"#).into_response()
        }
    };
    let reserve = |Path(id): Path<String>| async move {
        match id.as_str() {
            "down" => (StatusCode::SERVICE_UNAVAILABLE, "inventory unavailable").into_response(),
            _ => StatusCode::OK.into_response(),
        }
    };
    let app = Router::new()
        .route("/stock/{id}", get(stock))
        .route("/reserve/{id}", post(reserve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        buttress::serve::serve(listener, app)
            .await
            .expect("inventory")
    });
    addr
}

type Body = BoxBody<Bytes, BoxError>;
type Downstream = BoxCloneSyncService<http::Request<Empty<Bytes>>, http::Response<Body>, BoxError>;

/// The inventory client: its stack, and where it sends.
#[derive(Clone)]
struct Inventory {
    client: Downstream,
    base: http::Uri,
}

impl Inventory {
    fn new(base: http::Uri) -> Self {
        let stock_unknown = FallbackLayer::builder()
            .name("inventory")
            .respond_with(http::Response::new(r#"{"stock":"unknown"}"#))
            .build()
            .expect("a valid fallback");
        let layer = ClientStack::new("inventory")
            .timeout(Duration::from_millis(500))
            .breaker(BreakerConfig {
                window: WindowConfig::Count { size: 20 },
                minimum_calls: 10,
                wait: Duration::from_secs(30),
                ..BreakerConfig::default()
            })
            .clone_requests()
            .fallback(stock_unknown)
            .build()
            .expect("a valid client stack");
        let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let client = Downstream::new(
            layer
                .layer(http)
                .map_response(|response| response.map(|body| body.map_err(Into::into).boxed())),
        );
        Inventory { client, base }
    }

    async fn call(&self, method: http::Method, path: &str) -> Result<(bool, Bytes), BoxError> {
        let uri = format!("{}{}", self.base.to_string().trim_end_matches('/'), path);
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Empty::new())?;
        let response = self.client.clone().oneshot(request).await?;
        if !response.status().is_success() {
            return Err(format!("inventory answered {}", response.status()).into());
        }
        let degraded = response.headers().contains_key(X_FALLBACK);
        Ok((degraded, response.into_body().collect().await?.to_bytes()))
    }
}

/// The answer for a failed inventory call: a Buttress rejection as such,
/// anything else a 502.
fn failed(error: BoxError) -> Response {
    match Rejected::find(&*error) {
        Some(rejected) => rejected.clone().into_response(),
        None => (StatusCode::BAD_GATEWAY, "the inventory failed").into_response(),
    }
}

/// An order with its stock: degraded to "unknown" when the inventory
/// cannot answer.
async fn order(State(inventory): State<Inventory>, Path(id): Path<String>) -> Response {
    match inventory
        .call(http::Method::GET, &format!("/stock/{id}"))
        .await
    {
        Ok((degraded, stock)) => {
            let body = format!(
                r#"{{"order":"{id}","inventory":{}}}"#,
                String::from_utf8_lossy(&stock)
            );
            let mut response = body.into_response();
            if degraded {
                response
                    .headers_mut()
                    .insert(X_FALLBACK, http::HeaderValue::from_static("inventory"));
            }
            response
        }
        Err(error) => failed(error),
    }
}

/// A checkout reserves stock: a write, never retried, never faked.
async fn checkout(State(inventory): State<Inventory>, Path(id): Path<String>) -> Response {
    match inventory
        .call(http::Method::POST, &format!("/reserve/{id}"))
        .await
    {
        Ok(_) => "reserved".into_response(),
        Err(error) => failed(error),
    }
}

/// The app: the API behind the server stack, `/metrics` and health
/// beside it.
pub(crate) fn app(prometheus: PrometheusHandle, health: Health, inventory: http::Uri) -> Router {
    let stack = ServerStack::new("shop")
        .rate_limit(RateLimitConfig {
            key: KeySource::PeerIp,
            quota: QuotaConfig::per_second(20).burst(40),
            ..RateLimitConfig::default()
        })
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a valid server stack");
    let api = Router::new()
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/checkout", post(checkout))
        .route(
            "/reports",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await; // past the stack's timeout: 504
                "report"
            }),
        )
        .with_state(Inventory::new(inventory))
        .layer(stack);
    api.route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    )
    .route_service("/health/live", health.live())
    .route_service("/health/ready", health.ready())
    .route_service("/health/report", health.report())
}

#[allow(dead_code)] // tests/metrics_prometheus.rs includes this file
#[tokio::main]
async fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let (prometheus, health) = install();
    let inventory = match options.inventory {
        Some(uri) => uri,
        None => {
            let addr = stand_in_inventory().await;
            println!("stand-in inventory on http://{addr}");
            format!("http://{addr}").parse().expect("a valid URI")
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .expect("the port is free");
    println!(
        "serving on http://{}",
        listener.local_addr().expect("bound")
    );
    buttress::serve::serve(listener, app(prometheus, health, inventory))
        .await
        .expect("server");
}
