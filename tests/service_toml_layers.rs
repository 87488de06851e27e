//! A whole service loaded from one TOML `ServiceConfig` with every layer
//! of both stacks turned on, on real sockets: the server stack on an axum
//! server bound to 127.0.0.1, and a client stack (hyper-util's legacy
//! client) over a loopback dependency that fails or stalls on command.
//!
//! Every test loads the same document ([`BASE`]) — each layer's section
//! set small enough to trip deterministically — with a few values changed
//! for the layer it watches, and sees that layer act: a 429 from the rate
//! limit, a shed 503, adaptive-limit and bulkhead 503s, a 504 from the
//! server timeout, the client breaker opening, a throttled call, a retry,
//! a fallback answer, an injected fault — and the client timeout and
//! bulkhead, both context layers and both metrics layers. The last tests
//! check that a mistake in any layer's section of either stack names the
//! field by its full path, with the line for parse errors.
//!
//! Tests that watch one client layer against a failing dependency quiet
//! the throttle (`max_probability = 0`: on, counting, never refusing), so
//! its random draws cannot stand in front of the layer being watched.

#![cfg(all(
    feature = "serde",
    feature = "stack",
    feature = "chaos",
    feature = "axum"
))]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use buttress::breaker::State as BreakerState;
use buttress::config::ServiceConfig;
use buttress::core::Criticality;
use buttress::core::layer::DefaultClassifier;
use buttress::fallback::{FallbackBody, FallbackLayer};
use buttress::retry::{BufferBody, ReplayBody};
use buttress::stack::{ClientLayer, ServerLayer};
use buttress::{BoxError, Reason, Rejected};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::sync::watch;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

// ---------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------

/// Every layer of both stacks, on, with settings small enough to trip:
/// `(section, [(key, value)])`, rendered in this order.
const BASE: &[(&str, &[(&str, &str)])] = &[
    ("server", &[("name", r#""front""#)]),
    (
        "server.context",
        &[
            // Only callers presenting `x-internal: yes` may set the ID,
            // deadline, criticality and fault; the rest are sheddable.
            (
                "trust",
                r#"{ header = { name = "x-internal", value = "yes" } }"#,
            ),
            ("default_criticality", r#""SHEDDABLE""#),
            ("max_deadline", r#""5s""#),
        ],
    ),
    ("server.metrics", &[("route_cap", "16")]),
    (
        "server.rate_limit",
        &[
            ("key", r#"{ header = "x-api-key" }"#),
            ("quota", r#"{ limit = 1000, period = "1s", burst = 1000 }"#),
            (
                "overrides",
                r#"[{ class = "trial", keys = ["trial-key"], quota = { limit = 3, period = "1m", burst = 3 } }]"#,
            ),
        ],
    ),
    (
        "server.shed",
        &[
            ("signal", r#"{ kind = "in_flight", high = 8, low = 4 }"#),
            // One raise (sheddable only) and no relief within a test.
            ("escalate_after", r#""10s""#),
            ("cooldown", r#""10s""#),
            ("retry_after", r#""3s""#),
        ],
    ),
    (
        "server.adaptive_limit",
        &[
            // Pinned at 4 (min = max), no queue: the fifth call is refused.
            ("min_limit", "4"),
            ("initial_limit", "4"),
            ("max_limit", "4"),
            ("queue_capacity", "0"),
            ("retry_after", r#""2s""#),
        ],
    ),
    (
        "server.bulkhead",
        &[("max_concurrent", "8"), ("retry_after", r#""2s""#)],
    ),
    ("server.timeout", &[("limit", r#""500ms""#)]),
    ("clients.dep", &[("uri", r#""http://127.0.0.1:9""#)]),
    ("clients.dep.context", &[("deadline_margin", r#""1ms""#)]),
    ("clients.dep.metrics", &[("route_cap", "8")]),
    (
        "clients.dep.fallback",
        &[
            (
                "response",
                r#"{ status = 200, content_type = "text/plain", body = "fallback" }"#,
            ),
            // GET only: a PUT's failure shows through, for the tests that
            // watch the layers under the fallback.
            ("methods", r#"["GET"]"#),
        ],
    ),
    (
        "clients.dep.retry",
        &[
            ("max_attempts", "2"),
            (
                "backoff",
                r#"{ base = "1ms", max = "5ms", jitter = "none" }"#,
            ),
            (
                "budget",
                r#"{ ratio = 0.5, min_per_sec = 100, window = "1s" }"#,
            ),
        ],
    ),
    (
        "clients.dep.throttle",
        &[
            ("window", r#""10s""#),
            ("buckets", "10"),
            ("k", "1.0"),
            ("max_probability", "0.9"),
            ("seed", "7"),
        ],
    ),
    (
        "clients.dep.breaker",
        &[
            ("window", r#"{ kind = "count", size = 6 }"#),
            ("minimum_calls", "6"),
            ("failure_rate", "50.0"),
            ("wait", r#""30s""#),
        ],
    ),
    ("clients.dep.bulkhead", &[("max_concurrent", "4")]),
    ("clients.dep.timeout", &[("limit", r#""300ms""#)]),
    (
        "clients.dep.chaos",
        &[
            ("directives", "true"),
            ("seed", "7"),
            ("max_delay", r#""1s""#),
        ],
    ),
];

/// One changed value: `(section, key, value)`.
type Set = (&'static str, &'static str, &'static str);

/// The throttle stays on and counts, but never refuses.
const QUIET_THROTTLE: Set = ("clients.dep.throttle", "max_probability", "0.0");

/// Room for the shed test's flood: the limits inside the shedder admit
/// more than its threshold.
const WIDE: [Set; 5] = [
    ("server.adaptive_limit", "min_limit", "64"),
    ("server.adaptive_limit", "initial_limit", "64"),
    ("server.adaptive_limit", "max_limit", "64"),
    ("server.bulkhead", "max_concurrent", "64"),
    ("server.timeout", "limit", r#""5s""#),
];

/// [`BASE`] as an editable document.
struct Doc {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Doc {
    fn base() -> Self {
        let sections = BASE
            .iter()
            .map(|(name, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                ((*name).to_owned(), keys)
            })
            .collect();
        Doc { sections }
    }

    /// Sets `key` in `section` to `value` (a TOML value as written),
    /// replacing the base's value or adding the key.
    fn set(mut self, section: &str, key: &str, value: &str) -> Self {
        let keys = &mut self
            .sections
            .iter_mut()
            .find(|(name, _)| name == section)
            .unwrap_or_else(|| panic!("no section {section} in BASE"))
            .1;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => keys.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, keys) in &self.sections {
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in keys {
                out.push_str(&format!("{key} = {value}\n"));
            }
            out.push('\n');
        }
        out
    }
}

/// The 1-based line of `key = value` in `section` of `text`.
fn line_of(text: &str, section: &str, key: &str, value: &str) -> usize {
    let header = format!("[{section}]");
    let wanted = format!("{key} = {value}");
    let start = text
        .lines()
        .position(|line| line == header)
        .expect("the section is in the text");
    let offset = text
        .lines()
        .skip(start)
        .position(|line| line == wanted)
        .expect("the key is in its section");
    start + offset + 1
}

// ---------------------------------------------------------------------
// The dependency: a loopback server that fails or stalls on command
// ---------------------------------------------------------------------

/// Every request the dependency saw: its path and headers, in order.
#[derive(Clone, Default)]
struct DepLog(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl DepLog {
    fn hits(&self, path: &str) -> usize {
        let log = self.0.lock().unwrap();
        log.iter().filter(|(p, _)| p == path).count()
    }

    fn headers(&self, path: &str) -> Vec<HeaderMap> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

/// `/ok` answers `ok`; `/fail` answers 503; `/flaky/{id}` answers 503 the
/// first time for each id and 200 after; `/slow` answers after 2 s.
async fn dependency(log: DepLog) -> SocketAddr {
    let app = Router::new().fallback(any(move |uri: http::Uri, headers: HeaderMap| {
        let log = log.clone();
        async move {
            let path = uri.path().to_owned();
            log.0.lock().unwrap().push((path.clone(), headers));
            match path.as_str() {
                "/ok" => (StatusCode::OK, "ok"),
                "/fail" => (StatusCode::SERVICE_UNAVAILABLE, "down"),
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    (StatusCode::OK, "late")
                }
                p if p.starts_with("/flaky/") => {
                    if log.hits(p) == 1 {
                        (StatusCode::SERVICE_UNAVAILABLE, "not yet")
                    } else {
                        (StatusCode::OK, "recovered")
                    }
                }
                _ => (StatusCode::NOT_FOUND, "no such path"),
            }
        }
    }));
    serve(app).await
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

// ---------------------------------------------------------------------
// The service: the server stack in front, the client stack to `dep`
// ---------------------------------------------------------------------

type DepClient = BoxCloneSyncService<
    http::Request<Full<Bytes>>,
    http::Response<FallbackBody<Incoming>>,
    BoxError,
>;

#[derive(Clone)]
struct Front {
    client: DepClient,
    dep_base: String,
    gate: watch::Receiver<bool>,
}

struct World {
    front: SocketAddr,
    dep: DepLog,
    dep_base: String,
    server: ServerLayer,
    client_layer: ClientLayer<BufferBody, DefaultClassifier, FallbackLayer>,
    client: DepClient,
    release: watch::Sender<bool>,
    caller: Client<HttpConnector, Empty<Bytes>>,
}

/// Loads [`BASE`] with `sets` applied, builds both stacks from it, and
/// starts the dependency and the service.
async fn world(sets: &[Set]) -> World {
    let dep = DepLog::default();
    let dep_addr = dependency(dep.clone()).await;
    let mut doc = Doc::base().set("clients.dep", "uri", &format!("\"http://{dep_addr}\""));
    for (section, key, value) in sets {
        doc = doc.set(section, key, value);
    }
    let text = doc.render();
    let config = ServiceConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("the document loads: {e}\n{text}"));
    let server = config.build_server().expect("the server stack builds");
    let client_layer = config
        .build_client_with_fallback("dep")
        .expect("the client stack builds");
    let dep_base = config
        .client_uri("dep")
        .unwrap()
        .expect("the document gives dep's uri")
        .to_string();
    let dep_base = dep_base.trim_end_matches('/').to_owned();
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let client = BoxCloneSyncService::new(client_layer.layer(transport).map_err(Into::into));

    let (release, gate) = watch::channel(false);
    let state = Front {
        client: client.clone(),
        dep_base: dep_base.clone(),
        gate,
    };
    let app = Router::new()
        .route("/hello", get(|| async { "hi" }))
        .route(
            "/work",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                "worked"
            }),
        )
        .route("/slow", get(std::future::pending::<&'static str>))
        .route(
            "/hold",
            get(|State(front): State<Front>| async move {
                let mut gate = front.gate.clone();
                gate.wait_for(|open| *open).await.unwrap();
                "released"
            }),
        )
        .route("/dep/{*rest}", any(relay))
        .with_state(state)
        .layer(server.clone());
    World {
        front: serve(app).await,
        dep,
        dep_base,
        server,
        client_layer,
        client,
        release,
        caller: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// The front's route to `dep`: the same method and path through the
/// client stack. A refusal answers as the edge would, naming its reason
/// in `x-dep-error`; a fallback answer keeps its marker.
async fn relay(State(front): State<Front>, method: Method, Path(rest): Path<String>) -> Response {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{}/{rest}", front.dep_base))
        .body(Full::new(Bytes::new()))
        .unwrap();
    match front.client.oneshot(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut answer = (parts.status, body).into_response();
            if let Some(marker) = parts.headers.get("x-fallback") {
                answer.headers_mut().insert("x-fallback", marker.clone());
            }
            answer
        }
        Err(err) => match Rejected::find(&*err) {
            Some(rejected) => {
                let reason = HeaderValue::from_static(rejected.reason().as_str());
                let mut answer = rejected.clone().into_response();
                answer.headers_mut().insert("x-dep-error", reason);
                answer
            }
            None => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
        },
    }
}

/// What a test reads of an answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn read<B>(response: http::Response<B>) -> Answer
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl World {
    /// Calls the front server, as a caller outside the service would.
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.front));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .caller
            .request(request.body(Empty::new()).unwrap())
            .await
            .expect("the front server answers");
        read(response).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, headers).await
    }

    /// Calls `dep` through the client stack, as the service's own code
    /// would.
    async fn call(&self, method: Method, path: &str) -> Result<Answer, BoxError> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.dep_base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.client.clone().oneshot(request).await?;
        Ok(read(response).await)
    }

    /// Sends `n` requests to `/hold` and waits until `in_flight` says they
    /// all hold a slot.
    async fn hold(
        &self,
        n: usize,
        in_flight: impl Fn() -> usize,
    ) -> Vec<tokio::task::JoinHandle<Answer>> {
        let held: Vec<_> = (0..n)
            .map(|_| {
                let caller = self.caller.clone();
                let uri = format!("http://{}/hold", self.front);
                tokio::spawn(async move {
                    let request = http::Request::get(uri).body(Empty::new()).unwrap();
                    read(caller.request(request).await.expect("an answer")).await
                })
            })
            .collect();
        wait_until("the held requests take their slots", || in_flight() == n).await;
        held
    }
}

/// Polls `done` every 5 ms for up to 10 s.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn reason_of(result: &Result<Answer, BoxError>) -> Option<Reason> {
    result
        .as_ref()
        .err()
        .and_then(|err| Rejected::find(&**err))
        .map(Rejected::reason)
}

const TRUSTED: (&str, &str) = ("x-internal", "yes");

// ---------------------------------------------------------------------
// The document turns every layer on
// ---------------------------------------------------------------------

#[tokio::test]
async fn the_document_turns_on_every_layer_of_both_stacks() {
    let w = world(&[]).await;
    let server = &w.server;
    assert_eq!(server.name(), "front");
    assert!(server.rate_limit().is_some(), "rate limit");
    assert_eq!(
        server.shed().expect("shed").config().escalate_after,
        Duration::from_secs(10)
    );
    assert_eq!(server.adaptive_limit().expect("adaptive limit").limit(), 4);
    assert_eq!(server.bulkhead().expect("bulkhead").max_concurrent(), 8);
    let client = &w.client_layer;
    assert_eq!(client.name(), "dep");
    assert!(client.fallback().is_some(), "fallback");
    assert_eq!(client.retry().config().max_attempts, 2);
    assert!(client.retry_budget().is_some(), "retry budget");
    assert_eq!(client.throttle().expect("throttle").config().k, 1.0);
    assert_eq!(
        client.breaker().expect("breaker").state(),
        BreakerState::Closed
    );
    assert_eq!(client.bulkhead().expect("bulkhead").max_concurrent(), 4);
    assert!(client.chaos().expect("chaos").is_enabled());

    // Healthy, every layer passes the call through both stacks.
    let answer = w.get("/dep/ok", &[]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "ok")
    );
    assert!(answer.header("x-fallback").is_none());
    assert_eq!(w.dep.hits("/ok"), 1);
}

// ---------------------------------------------------------------------
// The server stack
// ---------------------------------------------------------------------

#[tokio::test]
async fn the_rate_limit_answers_429_to_a_caller_over_its_quota() {
    let w = world(&[]).await;
    let trial = ("x-api-key", "trial-key");
    for _ in 0..3 {
        assert_eq!(w.get("/hello", &[trial]).await.status, StatusCode::OK);
    }
    let refused = w.get("/hello", &[trial]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body, "rate limited\n");
    assert_eq!(refused.header("retry-after"), Some("20"));
    assert_eq!(refused.header("ratelimit-policy"), Some("trial;q=3;w=60"));
    // Another key keeps its own (default) quota.
    let other = w.get("/hello", &[("x-api-key", "other")]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(w.server.rate_limit().unwrap().limited(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shedder_drops_sheddable_traffic_under_load_and_keeps_critical_traffic() {
    let mut sets = WIDE.to_vec();
    // The flood must meet the shedder, not the rate limit.
    sets.push((
        "server.rate_limit",
        "quota",
        r#"{ limit = 100000, period = "1s", burst = 100000 }"#,
    ));
    let w = Arc::new(world(&sets).await);

    // 24 untrusted callers on a 50 ms route: they claim CRITICAL_PLUS,
    // but the context trusts only `x-internal`, so they stay sheddable.
    let (stop, stopped) = watch::channel(false);
    let shed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flood: Vec<_> = (0..24)
        .map(|_| {
            let (w, stopped, shed) = (w.clone(), stopped.clone(), shed.clone());
            tokio::spawn(async move {
                let mut served = 0u64;
                while !*stopped.borrow() {
                    let answer = w.get("/work", &[("x-criticality", "CRITICAL_PLUS")]).await;
                    match answer.status.as_u16() {
                        200 => served += 1,
                        503 => {
                            assert_eq!(answer.body, "load shed\n", "refused by the shedder");
                            assert_eq!(answer.header("retry-after"), Some("3"));
                            shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        other => panic!("the flood got {other}: {}", answer.body),
                    }
                }
                served
            })
        })
        .collect();
    wait_until("the shedder refuses the flood", || {
        shed.load(std::sync::atomic::Ordering::Relaxed) > 0
    })
    .await;
    let shedder = w.server.shed().unwrap();
    assert_eq!(shedder.shedding(), Some(Criticality::Sheddable));

    // Trusted critical callers keep being answered meanwhile.
    for _ in 0..20 {
        let answer = w
            .get("/work", &[TRUSTED, ("x-criticality", "CRITICAL")])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    stop.send(true).unwrap();
    let mut served = 0;
    for task in flood {
        served += task.await.unwrap();
    }
    let shed = shed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(shed > 0 && served > 0, "served {served}, shed {shed}");
}

#[tokio::test]
async fn the_adaptive_limit_refuses_past_its_limit_with_503() {
    // The limit is pinned at 4 with no queue; the bulkhead (8) is wider.
    let w = world(&[("server.timeout", "limit", r#""5s""#)]).await;
    let adaptive = w.server.adaptive_limit().unwrap().clone();
    let held = w.hold(4, || adaptive.in_flight()).await;
    let refused = w.get("/hello", &[]).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.body, "overloaded\n");
    assert_eq!(refused.header("retry-after"), Some("2"));
    w.release.send(true).unwrap();
    for answer in held {
        assert_eq!(answer.await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(w.get("/hello", &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_bulkhead_refuses_when_full_with_503() {
    let w = world(&[
        ("server.timeout", "limit", r#""5s""#),
        ("server.adaptive_limit", "min_limit", "16"),
        ("server.adaptive_limit", "initial_limit", "16"),
        ("server.adaptive_limit", "max_limit", "16"),
        ("server.bulkhead", "max_concurrent", "2"),
    ])
    .await;
    let bulkhead = w.server.bulkhead().unwrap().clone();
    let held = w.hold(2, || bulkhead.in_flight()).await;
    let refused = w.get("/hello", &[]).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.body, "bulkhead full\n");
    assert_eq!(refused.header("retry-after"), Some("2"));
    w.release.send(true).unwrap();
    for answer in held {
        assert_eq!(answer.await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test]
async fn the_server_timeout_answers_504_carrying_the_callers_id() {
    let w = world(&[]).await;
    let started = Instant::now();
    let answer = w
        .get("/slow", &[TRUSTED, ("x-request-id", "req-504")])
        .await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    // The limit ends the call as the timeout's own (`timed out`), or as
    // the deadline the context derives from it (`deadline exceeded`).
    assert!(
        ["timed out\n", "deadline exceeded\n"].contains(&answer.body.as_str()),
        "{:?}",
        answer.body
    );
    // The context is outermost: even a refusal carries the trusted ID.
    assert_eq!(answer.header("x-request-id"), Some("req-504"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // An untrusted caller's ID is replaced.
    let answer = w.get("/hello", &[("x-request-id", "spoofed")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("x-request-id")
            .is_some_and(|id| id != "spoofed")
    );
}

// ---------------------------------------------------------------------
// The client stack
// ---------------------------------------------------------------------

#[tokio::test]
async fn the_retry_sends_a_failed_call_again() {
    let w = world(&[QUIET_THROTTLE]).await;
    let answer = w.call(Method::PUT, "/flaky/once").await.expect("an answer");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "recovered")
    );
    let seen = w.dep.headers("/flaky/once");
    assert_eq!(seen.len(), 2, "one call, two attempts");
    assert!(seen[0].get("x-retry-attempt").is_none());
    assert_eq!(seen[1]["x-retry-attempt"], "2");
}

#[tokio::test]
async fn the_breaker_opens_and_refuses_without_calling_the_dependency() {
    let w = world(&[QUIET_THROTTLE]).await;
    let breaker = w.client_layer.breaker().unwrap();
    let mut calls = 0;
    while breaker.state() != BreakerState::Open {
        assert!(calls < 10, "6 failed attempts open the breaker");
        // PUT is not among the fallback's methods: the 503 shows through.
        let answer = w.call(Method::PUT, "/fail").await.expect("an answer");
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        calls += 1;
    }
    assert_eq!(calls, 3, "two attempts a call, six to open");
    let hits = w.dep.hits("/fail");
    assert_eq!(hits, 6);
    for _ in 0..5 {
        let result = w.call(Method::PUT, "/fail").await;
        assert_eq!(reason_of(&result), Some(Reason::CircuitOpen));
    }
    assert_eq!(w.dep.hits("/fail"), hits, "no call reaches dep while open");
}

#[tokio::test]
async fn the_throttle_refuses_locally_once_the_dependency_keeps_failing() {
    // The breaker never judges here, so only the throttle can refuse.
    let w = world(&[
        (
            "clients.dep.breaker",
            "window",
            r#"{ kind = "count", size = 1000 }"#,
        ),
        ("clients.dep.breaker", "minimum_calls", "1000"),
    ])
    .await;
    let throttle = w.client_layer.throttle().unwrap();
    let mut throttled = None;
    for call in 0..40 {
        let result = w.call(Method::PUT, "/fail").await;
        match reason_of(&result) {
            Some(Reason::Throttled) => {
                throttled = Some(call);
                break;
            }
            None => assert_eq!(result.unwrap().status, StatusCode::SERVICE_UNAVAILABLE),
            Some(other) => panic!("refused for {other:?}"),
        }
    }
    assert!(throttled.is_some(), "a call was throttled");
    assert!(throttle.probability() > 0.0);
    // Every attempt sent failed, and the refused one counts as a request
    // too, keeping the odds up.
    let (requests, accepts) = throttle.counts();
    let sent = w.dep.hits("/fail") as u64;
    assert_eq!(accepts, 0);
    assert!(requests > sent, "{requests} requests, {sent} sent");
}

#[tokio::test]
async fn the_client_timeout_ends_a_hung_attempt_and_the_bulkhead_refuses_when_full() {
    let w = world(&[
        QUIET_THROTTLE,
        ("clients.dep.timeout", "limit", r#""100ms""#),
        ("clients.dep.bulkhead", "max_concurrent", "1"),
    ])
    .await;
    let bulkhead = w.client_layer.bulkhead().unwrap().clone();
    let hung = {
        let client = w.client.clone();
        let uri = format!("{}/slow", w.dep_base);
        tokio::spawn(async move {
            let request = http::Request::put(uri)
                .body(Full::new(Bytes::new()))
                .unwrap();
            client.oneshot(request).await.map(drop)
        })
    };
    wait_until("the hung call takes the only slot", || {
        bulkhead.in_flight() == 1
    })
    .await;
    let result = w.call(Method::PUT, "/ok").await;
    assert_eq!(reason_of(&result), Some(Reason::BulkheadFull));
    assert_eq!(w.dep.hits("/ok"), 0, "refused before sending");

    let err = hung.await.unwrap().expect_err("every attempt hangs");
    assert_eq!(
        Rejected::find(&*err).map(Rejected::reason),
        Some(Reason::Timeout)
    );
    assert_eq!(w.dep.hits("/slow"), 2, "a timed-out attempt is retried");
}

#[tokio::test]
async fn the_fallback_answers_for_failures_and_for_the_open_breaker() {
    let w = world(&[QUIET_THROTTLE]).await;
    let mut markers = Vec::new();
    while markers.last().map(String::as_str) != Some("circuit-open") {
        assert!(markers.len() < 10, "the breaker opens: {markers:?}");
        // Through the front server: the caller gets the fallback answer.
        let answer = w.get("/dep/fail", &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "fallback");
        markers.push(answer.header("x-fallback").expect("the marker").to_owned());
    }
    assert_eq!(markers, ["failure", "failure", "failure", "circuit-open"]);
    assert_eq!(w.dep.hits("/fail"), 6);
}

#[tokio::test]
async fn chaos_injects_the_fault_a_trusted_caller_asks_for() {
    let w = world(&[QUIET_THROTTLE]).await;
    let fault = ("x-buttress-fault", "dependency=dep;abort=503");

    // A PUT has no fallback: the front sees the injected fault.
    let answer = w.send(Method::PUT, "/dep/ok", &[TRUSTED, fault]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.header("x-dep-error"), Some("fault_injected"));
    assert_eq!(answer.body, "fault injected\n");
    // A GET gets the fallback, marked with the cause.
    let answer = w.get("/dep/ok", &[TRUSTED, fault]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "fallback")
    );
    assert_eq!(answer.header("x-fallback"), Some("fault-injected"));
    assert_eq!(w.dep.hits("/ok"), 0, "aborted before the transport");
    let stats = w.client_layer.chaos().unwrap().stats();
    assert_eq!(stats.aborted, 4, "two calls, two attempts each");

    // The same header from an untrusted caller is not carried.
    let answer = w.get("/dep/ok", &[fault]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "ok")
    );
    assert_eq!(w.dep.hits("/ok"), 1);
    assert_eq!(w.client_layer.chaos().unwrap().stats().aborted, 4);
}

#[tokio::test]
async fn the_context_carries_the_id_and_criticality_to_the_dependency() {
    let w = world(&[]).await;
    let answer = w
        .get(
            "/dep/ok",
            &[
                TRUSTED,
                ("x-request-id", "req-ctx"),
                ("x-criticality", "CRITICAL"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("x-request-id"), Some("req-ctx"));
    let seen = w.dep.headers("/ok");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["x-request-id"], "req-ctx");
    assert_eq!(seen[0]["x-criticality"], "CRITICAL");
}

/// The process-wide `metrics` recorder, installed by the first test that
/// reads it (the RED layers of the other tests report to it too, under
/// their own names).
fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder in this test binary");
        snapshotter
    })
}

/// Counter totals by `name{label=value,...}`, summed over snapshots (a
/// snapshot drains the counters it reads).
#[derive(Default)]
struct Counters(BTreeMap<String, u64>);

impl Counters {
    fn update(&mut self) {
        for (key, _, _, value) in recorder().snapshot().into_vec() {
            // A histogram counts its samples: RED's requests are its
            // duration histogram's count.
            let count = match value {
                DebugValue::Counter(count) => Some(count),
                DebugValue::Histogram(samples) => Some(samples.len() as u64),
                DebugValue::Gauge(_) => None,
            };
            if let Some(count) = count {
                let key = key.key();
                let mut labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                let name = format!("{}{{{}}}", key.name(), labels.join(","));
                *self.0.entry(name).or_default() += count;
            }
        }
    }

    /// The total of the counter `name` over series carrying every label
    /// in `with`.
    fn sum(&self, name: &str, with: &[&str]) -> u64 {
        self.0
            .iter()
            .filter(|(key, _)| key.starts_with(&format!("{name}{{")))
            .filter(|(key, _)| with.iter().all(|label| key.contains(label)))
            .map(|(_, count)| count)
            .sum()
    }
}

#[tokio::test]
async fn both_metrics_layers_count_every_answer_refusals_included() {
    recorder();
    let w = world(&[
        ("server.metrics", "name", r#""front-red""#),
        ("clients.dep.metrics", "name", r#""dep-red""#),
    ])
    .await;
    assert_eq!(w.get("/hello", &[]).await.status, StatusCode::OK);
    for _ in 0..4 {
        w.get("/hello", &[("x-api-key", "trial-key")]).await;
    }
    assert_eq!(w.get("/dep/ok", &[]).await.status, StatusCode::OK);

    let server = "buttress.name=front-red";
    let mut counters = Counters::default();
    wait_until("the server's six answers are counted", || {
        counters.update();
        counters.sum("http.server.request.duration", &[server]) >= 6
    })
    .await;
    assert_eq!(counters.sum("http.server.request.duration", &[server]), 6);
    // Metrics sit outside the edge: they see its 429.
    let refused = [
        server,
        "http.response.status_code=429",
        "error.type=rate_limited",
    ];
    assert_eq!(counters.sum("http.server.request.duration", &refused), 1);
    assert_eq!(
        counters.sum("http.server.request.duration", &[server, "error.type="]),
        1
    );
    let client = ["buttress.name=dep-red", "http.response.status_code=200"];
    assert_eq!(counters.sum("http.client.request.duration", &client), 1);
}

// ---------------------------------------------------------------------
// Mistakes in any section
// ---------------------------------------------------------------------

/// One mistake: `key = value` in `section`, and the field the error must
/// name (the key's full path unless said otherwise).
struct Mistake {
    section: &'static str,
    key: &'static str,
    value: &'static str,
    field: Option<&'static str>,
}

const fn at(section: &'static str, key: &'static str, value: &'static str) -> Mistake {
    Mistake {
        section,
        key,
        value,
        field: None,
    }
}

const fn naming(mistake: Mistake, field: &'static str) -> Mistake {
    Mistake {
        field: Some(field),
        ..mistake
    }
}

/// Loads [`BASE`] with the mistake; returns the error and the mistake's
/// line.
fn load_with(mistake: &Mistake) -> (buttress::core::config::ConfigError, usize, String) {
    let text = Doc::base()
        .set(mistake.section, mistake.key, mistake.value)
        .render();
    let line = line_of(&text, mistake.section, mistake.key, mistake.value);
    let err = ServiceConfig::from_toml(&text).expect_err("the mistake is caught at load");
    let field = match mistake.field {
        Some(field) => field.to_owned(),
        None => format!("{}.{}", mistake.section, mistake.key),
    };
    (err, line, field)
}

/// Every layer section of both stacks.
const SECTIONS: [&str; 16] = [
    "server.context",
    "server.metrics",
    "server.rate_limit",
    "server.shed",
    "server.adaptive_limit",
    "server.bulkhead",
    "server.timeout",
    "clients.dep.context",
    "clients.dep.metrics",
    "clients.dep.fallback",
    "clients.dep.retry",
    "clients.dep.throttle",
    "clients.dep.breaker",
    "clients.dep.bulkhead",
    "clients.dep.timeout",
    "clients.dep.chaos",
];

#[test]
fn the_base_document_loads_and_names_every_layer_section() {
    let text = Doc::base().render();
    ServiceConfig::from_toml(&text).expect("the base document is valid");
    let named: Vec<&str> = BASE.iter().map(|(name, _)| *name).collect();
    for section in SECTIONS {
        assert!(named.contains(&section), "{section} is in BASE");
    }
}

#[test]
fn an_unknown_field_in_any_section_is_named_with_its_path_and_line() {
    for section in SECTIONS {
        let mistake = at(section, "not_a_setting", "1");
        let (err, line, field) = load_with(&mistake);
        assert_eq!(err.field(), field, "{err}");
        assert!(err.problem().contains("unknown field"), "{err}");
        assert!(err.problem().contains(&format!("(line {line})")), "{err}");
    }
}

#[test]
fn a_value_of_the_wrong_shape_in_any_section_is_named_with_its_path_and_line() {
    let mistakes = [
        at("server.context", "max_deadline", r#""forever""#),
        at("server.metrics", "route_cap", "-1"),
        at("server.rate_limit", "mode", r#""loud""#),
        at("server.shed", "escalate_after", r#""soon""#),
        at("server.adaptive_limit", "max_wait", r#""5 parsecs""#),
        at("server.bulkhead", "order", r#""random""#),
        at("server.timeout", "limit", r#""soon""#),
        at("clients.dep.context", "propagate_fault", r#""yes""#),
        at("clients.dep.metrics", "route_cap", r#""many""#),
        at("clients.dep.fallback", "reasons", r#"["bogus"]"#),
        naming(
            at("clients.dep.retry", "backoff", r#"{ base = "fast" }"#),
            "clients.dep.retry.backoff.base",
        ),
        at("clients.dep.throttle", "window", r#""forever""#),
        at("clients.dep.breaker", "wait", r#""soon""#),
        at("clients.dep.bulkhead", "max_wait", "5"),
        at("clients.dep.timeout", "limit", r#""soon""#),
        naming(
            at(
                "clients.dep.chaos",
                "abort",
                r#"{ percent = 10.0, with = "200" }"#,
            ),
            "clients.dep.chaos.abort.with",
        ),
    ];
    assert_eq!(mistakes.len(), SECTIONS.len());
    for mistake in &mistakes {
        let (err, line, field) = load_with(mistake);
        assert_eq!(err.field(), field, "{err}");
        assert!(err.problem().contains(&format!("(line {line})")), "{err}");
    }
}

#[test]
fn an_out_of_range_value_in_any_section_is_named_with_its_path() {
    let mistakes = [
        at("server.context", "default_criticality", r#""URGENT""#),
        at("server.metrics", "route_cap", "5000"),
        at("server.rate_limit", "max_keys", "0"),
        at("server.shed", "relax_ratio", "2.0"),
        at("server.adaptive_limit", "window_min_calls", "0"),
        at("server.bulkhead", "max_concurrent", "0"),
        // The limit is the section's one setting: its error names the
        // section, as it does for `timeout = "0s"`.
        naming(at("server.timeout", "limit", r#""0s""#), "server.timeout"),
        at("clients.dep.context", "deadline_margin", r#""2m""#),
        at("clients.dep.metrics", "route_cap", "5000"),
        at("clients.dep.fallback", "methods", "[]"),
        at("clients.dep.retry", "max_attempts", "11"),
        at("clients.dep.throttle", "k", "0.5"),
        at("clients.dep.breaker", "failure_rate", "0.0"),
        at("clients.dep.bulkhead", "max_concurrent", "0"),
        naming(
            at("clients.dep.timeout", "limit", r#""0s""#),
            "clients.dep.timeout",
        ),
        at("clients.dep.chaos", "max_active", "0"),
    ];
    assert_eq!(mistakes.len(), SECTIONS.len());
    for mistake in &mistakes {
        let (err, _, field) = load_with(mistake);
        assert_eq!(err.field(), field, "{err}");
    }
}
