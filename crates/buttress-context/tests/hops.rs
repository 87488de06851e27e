//! Three axum services on 127.0.0.1, A → B → C, each with the server
//! layer and a hyper-util client under the client layer: the ID, trace,
//! deadline and criticality cross both hops; untrusted input does not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buttress_context::{ClientContextLayer, ServerContextLayer};
use buttress_core::context::PeerAddr;
use buttress_core::timeout::TimeoutLayer;
use buttress_core::{BoxError, Rejected, RequestContext, TrustPolicy};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tracing_subscriber::fmt::MakeWriter;

// ---- captured tracing output, one subscriber for the whole binary ----

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        capture
    })
}

fn log_lines_with(id: &str) -> Vec<String> {
    let text = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    let needle = format!("request_id={id}");
    text.lines()
        .filter(|line| line.contains(&needle))
        .map(str::to_owned)
        .collect()
}

// ---- the three services ----

type Downstream = tower::util::BoxCloneSyncService<
    http::Request<Body>,
    http::Response<hyper::body::Incoming>,
    BoxError,
>;

fn client() -> Downstream {
    let transport: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    tower::util::BoxCloneSyncService::new(ClientContextLayer::new().layer(transport))
}

#[derive(Clone)]
struct Next {
    client: Downstream,
    base: String,
}

async fn call(next: &Next, path: &str) -> Response {
    let req = http::Request::get(format!("{}{path}", next.base))
        .body(Body::empty())
        .unwrap();
    match next.client.clone().oneshot(req).await {
        Ok(res) => {
            let (parts, body) = res.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(err) => match Rejected::find(&*err) {
            Some(rejected) => rejected.clone().into_response(),
            None => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
        },
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

/// Copies the socket peer into core's [`PeerAddr`], where trust looks.
async fn peer(ConnectInfo(addr): ConnectInfo<SocketAddr>, mut req: Request) -> Request {
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

/// C: answers with what it received and what its context holds.
async fn c_echo(headers: HeaderMap, ctx: RequestContext) -> String {
    tracing::info!("service C handling");
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let remaining = ctx
        .remaining(tokio::time::Instant::now())
        .map(|d| d.as_millis().to_string())
        .unwrap_or_default();
    format!(
        "x-request-id={}\ntraceparent={}\nx-request-timeout-ms={}\nx-criticality={}\nremaining={}\n",
        header("x-request-id"),
        header("traceparent"),
        header("x-request-timeout-ms"),
        header("x-criticality"),
        remaining,
    )
}

struct Services {
    a: String,
    b_slow_calls: Arc<Mutex<Vec<String>>>,
}

async fn services() -> Services {
    logs();
    // C and B trust their loopback peers; A trusts only requests carrying
    // the gateway's secret header.
    let internal = || ServerContextLayer::internal(TrustPolicy::peers(["127.0.0.1"]).unwrap());

    let c = Router::new()
        .route("/echo", get(c_echo))
        .layer(internal())
        .layer(axum::middleware::map_request(peer));
    let c = serve(c).await;

    let b_slow_calls = Arc::new(Mutex::new(Vec::new()));
    let slow_calls = b_slow_calls.clone();
    let b = Router::new()
        .route(
            "/hop",
            get(|State(next): State<Next>| async move {
                tracing::info!("service B handling");
                call(&next, "/echo").await
            }),
        )
        .route(
            "/slow",
            get(move |headers: HeaderMap| async move {
                tracing::info!("service B sleeping");
                let timeout = headers
                    .get("x-request-timeout-ms")
                    .map(|v| v.to_str().unwrap().to_owned());
                slow_calls.lock().unwrap().push(timeout.unwrap_or_default());
                tokio::time::sleep(Duration::from_secs(2)).await;
                "too late"
            }),
        )
        .with_state(Next {
            client: client(),
            base: c,
        })
        .layer(internal())
        .layer(axum::middleware::map_request(peer));
    let b = serve(b).await;

    let gateway = TrustPolicy::header(
        HeaderName::from_static("x-gateway"),
        HeaderValue::from_static("s3cret"),
    );
    let a = Router::new()
        .route(
            "/hop",
            get(|State(next): State<Next>| async move {
                tracing::info!("service A handling");
                call(&next, "/hop").await
            }),
        )
        .route(
            "/slow",
            get(|State(next): State<Next>| async move { call(&next, "/slow").await }),
        )
        .route(
            "/ctx",
            get(|ctx: RequestContext| async move {
                format!(
                    "deadline={}\ncriticality={}\n",
                    ctx.deadline().is_some(),
                    ctx.criticality()
                )
            }),
        )
        .with_state(Next {
            client: client(),
            base: b,
        })
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|err: BoxError| async move {
                    match Rejected::find(&*err) {
                        Some(rejected) => rejected.clone().into_response(),
                        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    }
                }))
                .layer(TimeoutLayer::deadline_only()),
        )
        .layer(
            ServerContextLayer::builder()
                .trust(gateway)
                .build()
                .unwrap(),
        );
    let a = serve(a).await;
    Services { a, b_slow_calls }
}

/// A plain client, as the outside world calls A.
async fn get_a(url: String, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = client
        .request(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, body)
}

fn field<'a>(body: &'a str, name: &str) -> &'a str {
    body.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
        })
        .unwrap_or_else(|| panic!("{name} missing in {body}"))
}

const TRUSTED: (&str, &str) = ("x-gateway", "s3cret");
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_id_trace_and_shrinking_deadline_cross_two_hops() {
    let s = services().await;
    let (status, headers, body) = get_a(
        format!("{}/hop", s.a),
        &[
            TRUSTED,
            ("x-request-id", "abc-123"),
            ("traceparent", PARENT),
            ("x-request-timeout-ms", "100"),
            ("x-criticality", "SHEDDABLE"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same ID in A's response and in C's received headers.
    assert_eq!(headers["x-request-id"], "abc-123");
    assert_eq!(field(&body, "x-request-id"), "abc-123");
    // The same trace, a different parent span.
    let parent = field(&body, "traceparent");
    assert_eq!(&parent[..36], &PARENT[..36]);
    assert_ne!(parent, PARENT);
    // The 100 ms deadline set at A reaches C as less than 100 ms.
    let timeout: u64 = field(&body, "x-request-timeout-ms").parse().unwrap();
    assert!(0 < timeout && timeout < 100, "{timeout}");
    let remaining: u64 = field(&body, "remaining").parse().unwrap();
    assert!(remaining <= timeout, "{remaining} > {timeout}");
    assert_eq!(field(&body, "x-criticality"), "SHEDDABLE");
    // Every service logged within a span carrying the ID.
    let lines = log_lines_with("abc-123");
    for service in [
        "service A handling",
        "service B handling",
        "service C handling",
    ] {
        assert!(
            lines.iter().any(|line| line.contains(service)),
            "{service} not in {lines:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_tags_and_overlong_ids_get_a_fresh_id_that_crosses_hops() {
    let s = services().await;
    let long = "x".repeat(300);
    for bad in ["<script>", long.as_str()] {
        let (status, headers, body) =
            get_a(format!("{}/hop", s.a), &[TRUSTED, ("x-request-id", bad)]).await;
        assert_eq!(status, StatusCode::OK);
        let fresh = headers["x-request-id"].to_str().unwrap();
        assert_eq!(fresh.len(), 36, "{fresh}");
        assert_eq!(field(&body, "x-request-id"), fresh);
        assert!(!log_lines_with(fresh).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_answers_504_at_its_deadline_while_b_sleeps() {
    let s = services().await;
    let started = std::time::Instant::now();
    let (status, headers, _) = get_a(
        format!("{}/slow", s.a),
        &[
            TRUSTED,
            ("x-request-id", "slow-1"),
            ("x-request-timeout-ms", "300"),
        ],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        headers["x-request-id"], "slow-1",
        "the edge-built answer carries the ID"
    );
    assert!(
        elapsed < Duration::from_millis(1_500),
        "{elapsed:?}: B answers after 2 s"
    );
    // B was called, with A's remaining time.
    let calls = s.b_slow_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let sent: u64 = calls[0].parse().unwrap();
    assert!(sent < 300, "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_callers_deadline_criticality_and_id_are_ignored() {
    let s = services().await;
    let (status, headers, body) = get_a(
        format!("{}/ctx", s.a),
        &[
            ("x-request-id", "abc-123"),
            ("x-request-timeout-ms", "50"),
            ("x-criticality", "CRITICAL_PLUS"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&body, "deadline"), "false");
    assert_eq!(field(&body, "criticality"), "CRITICAL");
    assert_ne!(headers["x-request-id"], "abc-123");
}
