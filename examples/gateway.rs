//! A gateway composing three downstream calls in parallel, each through
//! its own client stack: `profile` and `orders` are critical (their
//! failure fails the page), `recommendations` is not — its stack ends in a
//! fallback (`buttress::fallback`), so when it fails, or its breaker is
//! open, the page is served without it, marked `x-fallback`.
//!
//! `cargo run --example gateway --all-features`, then
//! `curl -i localhost:3000/page`.
//!
//! The three downstreams run in the same process; recommendations is
//! broken (it answers 500 after a delay).

use buttress::core::layer::LayerBuilder;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buttress::breaker::BreakerConfig;
use buttress::fallback::{FallbackLayer, X_FALLBACK};
use buttress::stack::{ClientStack, ServerStack};
use buttress::{BoxError, Rejected};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

type Body = BoxBody<Bytes, BoxError>;
type Downstream = BoxCloneSyncService<http::Request<Empty<Bytes>>, http::Response<Body>, BoxError>;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.expect("server") });
    addr
}

/// The three downstreams: two healthy, recommendations broken.
pub(crate) async fn downstreams() -> [SocketAddr; 3] {
    let profile = serve(Router::new().route("/", get(|| async { r#"{"name":"Ada"}"# }))).await;
    let orders = serve(Router::new().route("/", get(|| async { r#"[{"id":7}]"# }))).await;
    let recommendations = serve(Router::new().route(
        "/",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "recommender down")
        }),
    ))
    .await;
    [profile, orders, recommendations]
}

#[derive(Clone)]
struct Gateway {
    profile: (Downstream, http::Uri),
    orders: (Downstream, http::Uri),
    recommendations: (Downstream, http::Uri),
}

fn client(name: &str, fallback: Option<FallbackLayer>) -> Downstream {
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let breaker = BreakerConfig {
        minimum_calls: 5,
        wait: Duration::from_secs(5),
        ..BreakerConfig::default()
    };
    let stack = ClientStack::new(name)
        .timeout(Duration::from_millis(300))
        .breaker(breaker)
        .clone_requests();
    match fallback {
        Some(fallback) => {
            let layer = stack
                .fallback(fallback)
                .build()
                .expect("a valid client stack");
            Downstream::new(layer.layer(http).map_response(boxed))
        }
        None => {
            let layer = stack.build().expect("a valid client stack");
            Downstream::new(layer.layer(http).map_response(boxed))
        }
    }
}

/// A response with its body boxed, whatever the body was.
fn boxed<B>(response: http::Response<B>) -> http::Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    response.map(|body| body.map_err(Into::into).boxed())
}

async fn fetch(downstream: &(Downstream, http::Uri)) -> Result<(bool, Bytes), BoxError> {
    let request = http::Request::get(downstream.1.clone()).body(Empty::new())?;
    let response = downstream.0.clone().oneshot(request).await?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()).into());
    }
    let degraded = response.headers().contains_key(X_FALLBACK);
    Ok((degraded, response.into_body().collect().await?.to_bytes()))
}

async fn page(State(gateway): State<Gateway>) -> Response {
    // The three calls run in parallel; the client context layer forwards
    // this request's ID and remaining deadline on each.
    let (profile, orders, recommendations) = tokio::join!(
        fetch(&gateway.profile),
        fetch(&gateway.orders),
        fetch(&gateway.recommendations),
    );
    let (profile, orders) = match (profile, orders) {
        (Ok(profile), Ok(orders)) => (profile.1, orders.1),
        (Err(error), _) | (_, Err(error)) => {
            return match Rejected::find(&*error) {
                Some(rejected) => rejected.clone().into_response(),
                None => (StatusCode::BAD_GATEWAY, "a critical dependency failed").into_response(),
            };
        }
    };
    // Recommendations always comes back: the fallback answers for it.
    let (degraded, recommendations) = recommendations.unwrap_or((true, Bytes::from_static(b"[]")));
    let recommendations = if recommendations.is_empty() {
        Bytes::from_static(b"[]")
    } else {
        recommendations
    };
    let body = format!(
        r#"{{"profile":{},"orders":{},"recommendations":{}}}"#,
        String::from_utf8_lossy(&profile),
        String::from_utf8_lossy(&orders),
        String::from_utf8_lossy(&recommendations)
    );
    let mut response = body.into_response();
    if degraded {
        response.headers_mut().insert(
            X_FALLBACK,
            http::HeaderValue::from_static("recommendations"),
        );
    }
    response
}

/// The gateway's app, calling the downstreams at `addrs`.
pub(crate) fn app(addrs: [SocketAddr; 3]) -> Router {
    let uri = |addr: SocketAddr| -> http::Uri { format!("http://{addr}/").parse().expect("valid") };
    let recommendations_fallback = FallbackLayer::builder()
        .name("recommendations")
        .respond_with(http::Response::new("[]"))
        .build()
        .expect("a valid fallback");
    let gateway = Gateway {
        profile: (client("profile", None), uri(addrs[0])),
        orders: (client("orders", None), uri(addrs[1])),
        recommendations: (
            client("recommendations", Some(recommendations_fallback)),
            uri(addrs[2]),
        ),
    };
    let stack = ServerStack::new("gateway")
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a valid server stack");
    Router::new()
        .route("/page", get(page))
        .with_state(gateway)
        .layer(stack)
}

#[allow(dead_code)] // tests/examples_clients.rs includes this file
#[tokio::main]
async fn main() {
    let app = app(downstreams().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .expect("port 3000 is free");
    println!(
        "gateway on http://{}/page",
        listener.local_addr().expect("bound")
    );
    buttress::serve::serve(listener, app).await.expect("server");
}
