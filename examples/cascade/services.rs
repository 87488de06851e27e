//! Services A, B and C on 127.0.0.1, in either mode. A needs B; B needs
//! C for an optional part of its answer, and has a fixed capacity.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buttress::core::answer::BodyFormat;
use buttress::{BoxError, Rejected};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use super::counters::Counters;
use super::scenario::{Mode, Phase, Scenario, Settings};
use super::{naive, resilient};

/// A response body of any downstream.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A call to the next service, naive or through a Buttress stack.
pub type Downstream =
    BoxCloneSyncService<http::Request<Empty<Bytes>>, http::Response<Body>, BoxError>;

/// The header B sets when it answered without C's part.
pub const DEGRADED: &str = "x-degraded";

/// The three running services.
pub struct Topology {
    pub a: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Topology {
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

pub fn http_client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build_http()
}

/// Serves `app` with `buttress::serve`, which also hands each request its
/// peer's address (what `trust = { peers = .. }` reads).
async fn serve(app: Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let task = tokio::spawn(async move {
        let _ = buttress::serve::serve(listener, app).await;
    });
    (addr, task)
}

#[derive(Clone)]
struct CState {
    scenario: Scenario,
    counters: Arc<Counters>,
    slow: Duration,
}

async fn c_handler(State(c): State<CState>) -> Response {
    let at = c.scenario.elapsed();
    Counters::hit(&c.counters.c_hits, at);
    match c.scenario.phase_after(at) {
        Phase::CFails => (StatusCode::INTERNAL_SERVER_ERROR, "C is failing").into_response(),
        Phase::CSlow => {
            tokio::time::sleep(c.slow).await;
            "part from C".into_response()
        }
        _ => "part from C".into_response(),
    }
}

#[derive(Clone)]
struct BState {
    scenario: Scenario,
    counters: Arc<Counters>,
    workers: Arc<Semaphore>,
    work: Duration,
    c: Downstream,
    c_uri: http::Uri,
}

async fn b_handler(State(b): State<BState>) -> Response {
    let at = b.scenario.elapsed();
    Counters::hit(&b.counters.b_hits, at);
    if b.scenario.phase_after(at) == Phase::BFails {
        return (StatusCode::INTERNAL_SERVER_ERROR, "B is failing").into_response();
    }
    {
        // B's own capacity: `workers` requests at once, `work` each.
        let _worker = b.workers.acquire().await.expect("never closed");
        tokio::time::sleep(b.work).await;
    }
    let request = http::Request::get(b.c_uri.clone())
        .body(Empty::new())
        .expect("valid");
    // C's part is optional: without it, B answers the rest (degraded).
    let degraded = match b.c.oneshot(request).await {
        Ok(response) => {
            let full = response.status() == StatusCode::OK
                && !response
                    .headers()
                    .contains_key(buttress::fallback::X_FALLBACK);
            let _ = response.into_body().collect().await;
            !full
        }
        Err(_) => true,
    };
    let mut response = "answer from B".into_response();
    if degraded {
        response
            .headers_mut()
            .insert(DEGRADED, http::HeaderValue::from_static("1"));
    }
    response
}

#[derive(Clone)]
struct AState {
    b: Downstream,
    b_uri: http::Uri,
}

async fn a_handler(State(a): State<AState>) -> Response {
    let request = http::Request::get(a.b_uri.clone())
        .body(Empty::new())
        .expect("valid");
    match a.b.oneshot(request).await {
        Ok(response) => {
            let status = response.status();
            let degraded = response.headers().get(DEGRADED).cloned();
            let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
            let _ = response.into_body().collect().await;
            let mut answer = match status {
                StatusCode::OK => "answer from A".into_response(),
                // B refused (it sheds): pass the refusal and its hint on.
                StatusCode::SERVICE_UNAVAILABLE if retry_after.is_some() => {
                    (StatusCode::SERVICE_UNAVAILABLE, "B is busy").into_response()
                }
                _ => (StatusCode::BAD_GATEWAY, "B failed").into_response(),
            };
            if let Some(value) = degraded {
                answer.headers_mut().insert(DEGRADED, value);
            }
            if let (Some(value), false) = (retry_after, status.is_success()) {
                answer
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            answer
        }
        // An open breaker: 503 with Retry-After, at once.
        Err(error) => match Rejected::find(&*error) {
            Some(rejected) => rejected
                .to_http_response(BodyFormat::Text)
                .map(axum::body::Body::from)
                .into_response(),
            None => (StatusCode::BAD_GATEWAY, "B unreachable").into_response(),
        },
    }
}

/// Starts C, then B, then A, wired for `mode`.
pub async fn start(
    mode: Mode,
    scenario: &Scenario,
    settings: &Settings,
    counters: Arc<Counters>,
) -> Topology {
    let c_state = CState {
        scenario: scenario.clone(),
        counters: counters.clone(),
        slow: settings.c_slow_delay,
    };
    let c_app = Router::new()
        .route("/part", get(c_handler))
        .with_state(c_state);
    let (c_addr, c_task) = serve(c_app).await;

    let http = http_client();
    let naive_client = || {
        naive::client(
            http.clone(),
            settings.naive_timeout,
            settings.naive_attempts,
        )
    };
    let b_state = BState {
        scenario: scenario.clone(),
        counters,
        workers: Arc::new(Semaphore::new(settings.b_workers)),
        work: settings.work,
        c: match mode {
            Mode::Naive => naive_client(),
            Mode::Buttress => resilient::c_client(http.clone()),
        },
        c_uri: format!("http://{c_addr}/part").parse().expect("valid"),
    };
    let b_app = Router::new()
        .route("/answer", get(b_handler))
        .with_state(b_state);
    let (b_addr, b_task) = serve(match mode {
        Mode::Naive => b_app,
        Mode::Buttress => resilient::b_server(b_app),
    })
    .await;

    let a_state = AState {
        b: match mode {
            Mode::Naive => naive_client(),
            Mode::Buttress => resilient::b_client(http.clone()),
        },
        b_uri: format!("http://{b_addr}/answer").parse().expect("valid"),
    };
    let a_app = Router::new().route("/", get(a_handler)).with_state(a_state);
    let (a_addr, a_task) = serve(match mode {
        Mode::Naive => a_app,
        Mode::Buttress => resilient::a_server(a_app),
    })
    .await;

    Topology {
        a: a_addr,
        tasks: vec![a_task, b_task, c_task],
    }
}
