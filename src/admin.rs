//! An admin router (feature `admin`): every layer's state and gauges, and
//! a live stream of transitions and refusals, for operators.
//!
//! | route | answers |
//! | --- | --- |
//! | `GET /` | readiness and every layer (the health report) |
//! | `GET /layers` | every live layer: kind, name, state, last gauges, and its running settings (`config`; feature `serde`, for the layers whose settings change while they run) |
//! | `GET /layers/{name}` | the layers of that name (404 when none) |
//! | `GET /config`, `GET /config/status` | with [`with_reloader`]: the running config as TOML, and how its reloads went |
//! | `GET /events` | server-sent events: `transition` (a breaker opening, a shedder's level), `rejections` (summarised, see `buttress::metrics::REJECTION_SUMMARY`), `reload` (with `Reloader::announce_to`), `missed` (this reader fell behind) |
//!
//! It reads the [`Health`] view that the metrics sink keeps
//! (`buttress::metrics::install` returns it). The event stream never
//! blocks the service: events go to a fixed ring of
//! [`EVENT_BUFFER`](buttress_metrics::EVENT_BUFFER) that each reader
//! follows at its own pace; a reader that stops reading costs its
//! connection's socket buffers and nothing more, and learns how much it
//! missed when it reads again.
//!
//! **Mount it where only operators reach it**: on a listener of its own,
//! bound to loopback or an admin network — never merged into the public
//! router. It reveals the service's inner state and names.
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! let health = buttress::metrics::install().expect("the first sink");
//! // The public service on 0.0.0.0:8080, elsewhere; the admin on loopback only.
//! let admin = tokio::net::TcpListener::bind("127.0.0.1:9901").await.unwrap();
//! axum::serve(admin, buttress::admin::router(health)).await.unwrap();
//! # }
//! ```

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buttress_metrics::{FeedItem, Health};
use futures_util::Stream;

/// How often an idle event stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The admin router over `health` (see the [module docs](self)).
///
/// ```
/// use buttress::metrics::MetricsSink;
/// use buttress::core::telemetry::{LayerKind, Telemetry};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sink = MetricsSink::new();
/// let _breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
/// let admin = buttress::admin::router(sink.health().clone());
/// let request = http::Request::get("/layers/payments").body(axum::body::Body::empty()).unwrap();
/// let response = admin.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/", get(report))
        .route("/layers", get(layers))
        .route("/layers/{name}", get(layer))
        .route("/events", get(events))
        .with_state(health)
}

/// Adds the config routes of `reloader` to an admin `router`:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /config` | the settings every stack runs with now, as TOML |
/// | `GET /config/status` | reloads applied and refused, and the last refusal's field and problem, as JSON |
///
/// ```
/// use buttress::config::{Reloader, ServiceConfig};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = ServiceConfig::default().build_server().unwrap();
/// let reloader = Reloader::new("service.toml").server(&server);
/// let admin = buttress::admin::with_reloader(
///     buttress::admin::router(buttress::metrics::MetricsSink::new().health().clone()),
///     reloader,
/// );
/// let request = http::Request::get("/config/status").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(admin.oneshot(request).await.unwrap().status(), 200);
/// # }
/// ```
#[cfg(all(feature = "serde", feature = "stack"))]
pub fn with_reloader(router: Router, reloader: crate::config::Reloader) -> Router {
    use crate::config::Reloader;
    async fn running(State(reloader): State<Reloader>) -> Response {
        let body = reloader.running().to_toml();
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/toml")],
            body,
        )
            .into_response()
    }
    async fn status(State(reloader): State<Reloader>) -> Response {
        json(StatusCode::OK, reloader.status().to_json())
    }
    router.merge(
        Router::new()
            .route("/config", get(running))
            .route("/config/status", get(status))
            .with_state(reloader),
    )
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn report(State(health): State<Health>) -> Response {
    json(StatusCode::OK, health.report_json())
}

async fn layers(State(health): State<Health>) -> Response {
    json(StatusCode::OK, health.layers_json())
}

async fn layer(State(health): State<Health>, Path(name): Path<String>) -> Response {
    match health.layer_json(&name) {
        Some(body) => json(StatusCode::OK, body),
        None => json(
            StatusCode::NOT_FOUND,
            "{\"error\":\"no live layer has this name\"}".to_owned(),
        ),
    }
}

async fn events(
    State(health): State<Health>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = health.subscribe();
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = match feed.next().await? {
            FeedItem::Event(event) => Event::default().event(event.name()).data(event.to_json()),
            FeedItem::Missed(count) => Event::default()
                .event("missed")
                .data(format!("{{\"missed\":{count}}}")),
        };
        Some((Ok(event), feed))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
