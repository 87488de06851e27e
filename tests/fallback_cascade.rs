//! End to end on 127.0.0.1: service A builds a page from B (critical) and
//! R (recommendations, non-critical, with a fallback). Both client stacks
//! in A end in a chaos layer that honours trusted fault directives:
//!
//! - R: `context → fallback("[]") → timeout → chaos → hyper`
//! - B: `context → breaker → timeout(200 ms) → chaos → hyper`
//!
//! Aborting R gives a 200 page with the fallback part and the marker
//! header; delaying B by 2 s gives fast 504s from A's own timeout until
//! B's breaker opens, then 503 with `Retry-After` and no more calls
//! reaching the chaos layer.
#![cfg(all(
    feature = "chaos",
    feature = "context",
    feature = "breaker",
    feature = "axum"
))]

use buttress::core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use buttress::breaker::{
    CircuitBreakerHandle, CircuitBreakerLayer, State as BreakerState, WindowConfig,
};
use buttress::chaos::{ChaosHandle, ChaosLayer};
use buttress::context::{ClientContextLayer, ServerContextLayer};
use buttress::core::telemetry::{Event, FallbackCause, RecordingSink};
use buttress::core::timeout::TimeoutLayer;
use buttress::fallback::{FallbackBody, FallbackLayer};
use buttress::{BoxError, Reason, Rejected, TrustPolicy};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

type RecsClient =
    BoxCloneSyncService<http::Request<Body>, http::Response<FallbackBody<Incoming>>, BoxError>;
type CriticalClient = BoxCloneSyncService<http::Request<Body>, http::Response<Incoming>, BoxError>;

fn transport() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A dependency answering `body`, counting its calls.
async fn dependency(body: &'static str, hits: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/",
        get(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async move { body }
        }),
    );
    format!("http://{}/", serve(app).await)
}

#[derive(Clone)]
struct Page {
    recs: RecsClient,
    recs_url: String,
    b: CriticalClient,
    b_url: String,
}

async fn text<B>(body: B) -> Result<String, BoxError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A's page: B is critical (its failure is the page's), R is not (its
/// fallback is part of the page, and the marker is passed on).
async fn page(State(page): State<Page>) -> Response {
    let req = http::Request::get(&page.b_url).body(Body::empty()).unwrap();
    let b = match page.b.oneshot(req).await {
        Ok(res) => text(res.into_body()).await.unwrap_or_default(),
        Err(err) => {
            return match Rejected::find(&*err) {
                Some(rejected) => rejected.clone().into_response(),
                None => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
            };
        }
    };
    let req = http::Request::get(&page.recs_url)
        .body(Body::empty())
        .unwrap();
    let res = page
        .recs
        .oneshot(req)
        .await
        .expect("R has a fallback for every failure");
    let marker = res.headers().get("x-fallback").cloned();
    let recs = text(res.into_body()).await.unwrap_or_default();
    let mut answer = format!("b={b}\nrecs={recs}\n").into_response();
    if let Some(marker) = marker {
        answer.headers_mut().insert("x-fallback", marker);
    }
    answer
}

struct World {
    a: std::net::SocketAddr,
    b_hits: Arc<AtomicUsize>,
    r_hits: Arc<AtomicUsize>,
    b_chaos: ChaosHandle,
    r_chaos: ChaosHandle,
    b_breaker: CircuitBreakerHandle,
    sink: RecordingSink,
}

async fn world() -> World {
    let b_hits = Arc::new(AtomicUsize::new(0));
    let r_hits = Arc::new(AtomicUsize::new(0));
    let b_url = dependency("b-part", b_hits.clone()).await;
    let recs_url = dependency("[real-recs]", r_hits.clone()).await;
    let sink = RecordingSink::new();

    let r_chaos = ChaosLayer::builder()
        .name("recommendations")
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let b_chaos = ChaosLayer::builder()
        .name("b")
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let breaker = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 10 };
            c.minimum_calls = 5;
            c.failure_rate = 50.0;
            c.wait = Duration::from_secs(30);
        })
        .name("b")
        .build()
        .unwrap();
    let page_state = Page {
        recs: BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(ClientContextLayer::new())
                .layer(
                    FallbackLayer::builder()
                        .name("recommendations")
                        .respond_with(http::Response::new("[]"))
                        .sink(sink.clone())
                        .build()
                        .unwrap(),
                )
                .layer(TimeoutLayer::new(Duration::from_millis(500)).expect("a valid timeout"))
                .layer(r_chaos.clone())
                .service(transport()),
        ),
        recs_url,
        b: BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(ClientContextLayer::new())
                .layer(breaker.clone())
                .layer(TimeoutLayer::new(Duration::from_millis(200)).expect("a valid timeout"))
                .layer(b_chaos.clone())
                .service(transport()),
        ),
        b_url,
    };
    let gateway = TrustPolicy::header(
        HeaderName::from_static("x-gateway"),
        HeaderValue::from_static("s3cret"),
    );
    let a = Router::new()
        .route("/page", get(page))
        .with_state(page_state)
        .layer(
            ServerContextLayer::builder()
                .trust(gateway)
                .build()
                .unwrap(),
        );
    World {
        a: serve(a).await,
        b_hits,
        r_hits,
        b_chaos: b_chaos.handle(),
        r_chaos: r_chaos.handle(),
        b_breaker: breaker.handle(),
        sink,
    }
}

const TRUSTED: (&str, &str) = ("x-gateway", "s3cret");

/// What the test reads of A's answer.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

fn body_of(answer: &Answer) -> &str {
    &answer.body
}

/// A plain client of A, as the outside world calls it.
struct Connection {
    client: Client<HttpConnector, Body>,
    base: String,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> Self {
        Connection {
            client: transport(),
            base: format!("http://{addr}"),
        }
    }

    async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = http::Request::get(format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = self
            .client
            .request(req.body(Body::empty()).unwrap())
            .await
            .expect("an answer");
        let (parts, body) = res.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: text(body).await.expect("a body"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_recommendations_serves_the_page_with_the_fallback_part_and_the_marker() {
    let w = world().await;
    let mut conn = Connection::open(w.a).await;

    // Healthy: the real part, no marker.
    let answer = conn.get("/page", &[TRUSTED]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(body_of(&answer), "b=b-part\nrecs=[real-recs]\n");
    assert!(answer.headers.get("x-fallback").is_none());
    assert_eq!(w.r_hits.load(Ordering::SeqCst), 1);

    let fault = ("x-buttress-fault", "dependency=recommendations;abort=503");
    for _ in 0..3 {
        let answer = conn.get("/page", &[TRUSTED, fault]).await;
        assert_eq!(answer.status, 200, "{}", body_of(&answer));
        assert_eq!(body_of(&answer), "b=b-part\nrecs=[]\n");
        assert_eq!(answer.headers["x-fallback"], "fault-injected");
    }
    assert_eq!(
        w.r_hits.load(Ordering::SeqCst),
        1,
        "R was never called while aborted"
    );
    assert_eq!(
        w.b_hits.load(Ordering::SeqCst),
        4,
        "B, not named, is called"
    );
    assert_eq!(w.r_chaos.stats().aborted, 3);
    assert_eq!(w.b_chaos.stats().aborted, 0);
    assert_eq!(
        w.sink.count(|_, event| *event
            == Event::FallbackServed(FallbackCause::Rejected(Reason::FaultInjected))),
        3
    );

    // The same header from an untrusted caller changes nothing.
    let answer = conn.get("/page", &[fault]).await;
    assert_eq!(body_of(&answer), "b=b-part\nrecs=[real-recs]\n");
    assert!(answer.headers.get("x-fallback").is_none());
    assert_eq!(w.r_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delaying_b_times_out_fast_then_its_breaker_opens_and_calls_stop() {
    let w = world().await;
    let mut conn = Connection::open(w.a).await;
    let fault = ("x-buttress-fault", "dependency=b;delay=2s");

    // Each delayed call ends at A's own 200 ms timeout, long before 2 s.
    let mut timeouts = 0;
    while w.b_breaker.state() != BreakerState::Open {
        assert!(timeouts < 10, "the breaker should open after 5 failures");
        let started = Instant::now();
        let answer = conn.get("/page", &[TRUSTED, fault]).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 504, "{}", body_of(&answer));
        assert!(took < Duration::from_millis(1_500), "{took:?}");
        timeouts += 1;
    }
    assert_eq!(timeouts, 5);
    let reached = w.b_chaos.stats().calls;
    assert_eq!(reached, 5);

    // Open: A answers 503 with Retry-After, and nothing reaches the chaos
    // layer (or B) any more.
    for _ in 0..20 {
        let answer = conn.get("/page", &[TRUSTED, fault]).await;
        assert_eq!(answer.status, 503, "{}", body_of(&answer));
        let retry_after: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(w.b_chaos.stats().calls, reached, "calls stopped rising");
    assert_eq!(w.b_chaos.stats().delayed, 5);
    assert_eq!(
        w.b_hits.load(Ordering::SeqCst),
        0,
        "B itself never saw a call"
    );
    assert_eq!(
        w.b_chaos.active(),
        0,
        "every cut-short delay gave its slot back"
    );
}
