//! (6) Durations. `timeout = "300000000000y"` once loaded, and then every
//! server request answered 500 and every client call panicked (`overflow
//! when adding duration to instant`); a breaker `wait = "0s"` loaded too.
//! Now every duration field of every section is bounded at load — at most
//! core's `MAX_DURATION` (a day) or a tighter cap, above zero where zero
//! means nothing — and the error names the field by its full path. And at
//! the longest durations the bounds allow, every layer of both stacks
//! answers requests on a paused clock (and on a real loopback server)
//! without panicking.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use buttress::breaker::CircuitBreakerLayer;
use buttress::config::ServiceConfig;
use buttress::core::config::MAX_DURATION;
use buttress::core::layer::LayerBuilder;
use buttress::core::timeout::TimeoutLayer;
use buttress::limit::BulkheadLayer;
use buttress::{BoxError, Rejected};
use tower::{Layer, ServiceExt};

/// One duration field: a document with `{v}` where its value goes, the
/// path an error must name, and whether zero is refused.
struct Field {
    toml: &'static str,
    path: &'static str,
    zero_refused: bool,
}

const fn field(toml: &'static str, path: &'static str, zero_refused: bool) -> Field {
    Field {
        toml,
        path,
        zero_refused,
    }
}

/// Every duration field a service file can hold.
fn fields() -> Vec<Field> {
    let mut fields = vec![
        // The server stack.
        field("[server]\ntimeout = \"{v}\"", "server.timeout", true),
        field(
            "[server.context]\nmax_deadline = \"{v}\"",
            "server.context.max_deadline",
            true,
        ),
        field(
            "[server.context]\ndefault_deadline = \"{v}\"",
            "server.context.default_deadline",
            true,
        ),
        field(
            "[server.rate_limit]\nquota = { limit = 1, period = \"{v}\", burst = 1 }",
            "server.rate_limit.quota.period",
            true,
        ),
        field(
            "[server.rate_limit]\nkey = { header = \"x-tenant\" }\n\
             [[server.rate_limit.overrides]]\nclass = \"gold\"\nkeys = [\"acme\"]\n\
             quota = { limit = 1, period = \"{v}\", burst = 1 }",
            "server.rate_limit.overrides[0].quota.period",
            true,
        ),
        field(
            "[server.shed]\nescalate_after = \"{v}\"",
            "server.shed.escalate_after",
            false,
        ),
        field(
            "[server.shed]\ncooldown = \"{v}\"",
            "server.shed.cooldown",
            true,
        ),
        field(
            "[server.shed]\nretry_after = \"{v}\"",
            "server.shed.retry_after",
            false,
        ),
        field(
            "[server.shed.signal]\nkind = \"queue_delay\"\ntarget = \"{v}\"\ninterval = \"1s\"",
            "server.shed.signal.target",
            true,
        ),
        field(
            "[server.shed.signal]\nkind = \"queue_delay\"\ntarget = \"1s\"\ninterval = \"{v}\"",
            "server.shed.signal.interval",
            true,
        ),
        field(
            "[server.shed.signal]\nkind = \"latency\"\ntarget = \"{v}\"\nrelief = \"0s\"\nwindow = \"1s\"",
            "server.shed.signal.target",
            true,
        ),
        field(
            "[server.shed.signal]\nkind = \"latency\"\ntarget = \"1s\"\nrelief = \"{v}\"\nwindow = \"1s\"",
            "server.shed.signal.relief",
            false,
        ),
        field(
            "[server.shed.signal]\nkind = \"latency\"\ntarget = \"1s\"\nrelief = \"0s\"\nwindow = \"{v}\"",
            "server.shed.signal.window",
            true,
        ),
        field(
            "[server.bulkhead]\nmax_wait = \"{v}\"",
            "server.bulkhead.max_wait",
            false,
        ),
        field(
            "[server.bulkhead]\nretry_after = \"{v}\"",
            "server.bulkhead.retry_after",
            false,
        ),
        // The client stack.
        field(
            "[clients.api]\ntimeout = \"{v}\"",
            "clients.api.timeout",
            true,
        ),
        field(
            "[clients.api.context]\ndeadline_margin = \"{v}\"",
            "clients.api.context.deadline_margin",
            false,
        ),
        field(
            "[clients.api.retry]\nmax_retry_after = \"{v}\"",
            "clients.api.retry.max_retry_after",
            false,
        ),
        field(
            "[clients.api.retry]\ntimeout = \"{v}\"",
            "clients.api.retry.timeout",
            true,
        ),
        field(
            "[clients.api.retry.backoff]\nbase = \"{v}\"",
            "clients.api.retry.backoff.base",
            true,
        ),
        field(
            "[clients.api.retry.backoff]\nmax = \"{v}\"",
            "clients.api.retry.backoff.max",
            true,
        ),
        field(
            "[clients.api.retry.budget]\nwindow = \"{v}\"",
            "clients.api.retry.budget.window",
            true,
        ),
        field(
            "[clients.api.throttle]\nbuckets = 1\nwindow = \"{v}\"",
            "clients.api.throttle.window",
            true,
        ),
        field(
            "[clients.api.throttle]\nretry_after = \"{v}\"",
            "clients.api.throttle.retry_after",
            false,
        ),
        field(
            "[clients.api.breaker]\nwait = \"{v}\"",
            "clients.api.breaker.wait",
            true,
        ),
        field(
            "[clients.api.breaker]\nwait = \"1ms\"\nbackoff = { max_wait = \"{v}\" }",
            "clients.api.breaker.backoff.max_wait",
            true,
        ),
        field(
            "[clients.api.breaker]\nwindow = { kind = \"time\", duration = \"{v}\", buckets = 1 }",
            "clients.api.breaker.window.duration",
            true,
        ),
        field(
            "[clients.api.breaker]\nslow_calls = { threshold = \"{v}\", rate = 50.0 }",
            "clients.api.breaker.slow_calls.threshold",
            true,
        ),
        field(
            "[clients.api.bulkhead]\nmax_wait = \"{v}\"",
            "clients.api.bulkhead.max_wait",
            false,
        ),
        field(
            "[clients.api.bulkhead]\nretry_after = \"{v}\"",
            "clients.api.bulkhead.retry_after",
            false,
        ),
        field(
            "[clients.api.fallback.stale]\nmax_age = \"{v}\"",
            "clients.api.fallback.stale.max_age",
            true,
        ),
        field(
            "[clients.api.fallback.stale]\nmax_age = \"1m\"\nrefresh = \"{v}\"",
            "clients.api.fallback.stale.refresh",
            false,
        ),
    ];
    fields.extend(adaptive_fields());
    #[cfg(feature = "chaos")]
    fields.extend(chaos_fields());
    fields
}

fn adaptive_fields() -> Vec<Field> {
    vec![
        field(
            "[server.adaptive_limit]\nwindow = \"{v}\"",
            "server.adaptive_limit.window",
            true,
        ),
        field(
            "[server.adaptive_limit]\ndrop_above = \"{v}\"",
            "server.adaptive_limit.drop_above",
            true,
        ),
        field(
            "[server.adaptive_limit]\nprobe_interval = \"{v}\"",
            "server.adaptive_limit.probe_interval",
            true,
        ),
        field(
            "[server.adaptive_limit]\nmax_wait = \"{v}\"",
            "server.adaptive_limit.max_wait",
            false,
        ),
        field(
            "[server.adaptive_limit]\ncodel_target = \"{v}\"",
            "server.adaptive_limit.codel_target",
            false,
        ),
        field(
            "[server.adaptive_limit]\ncodel_interval = \"{v}\"",
            "server.adaptive_limit.codel_interval",
            true,
        ),
        field(
            "[server.adaptive_limit]\nretry_after = \"{v}\"",
            "server.adaptive_limit.retry_after",
            false,
        ),
    ]
}

#[cfg(feature = "chaos")]
fn chaos_fields() -> Vec<Field> {
    vec![
        field(
            "[clients.api.chaos]\nmax_delay = \"{v}\"",
            "clients.api.chaos.max_delay",
            true,
        ),
        field(
            "[clients.api.chaos.delay]\npercent = 1.0\nlatency = { kind = \"fixed\", delay = \"{v}\" }",
            "clients.api.chaos.delay.latency.delay",
            true,
        ),
        field(
            "[clients.api.chaos.delay]\npercent = 1.0\nlatency = { kind = \"uniform\", min = \"{v}\", max = \"1s\" }",
            "clients.api.chaos.delay.latency.min",
            false,
        ),
        field(
            "[clients.api.chaos.delay]\npercent = 1.0\nlatency = { kind = \"uniform\", min = \"0s\", max = \"{v}\" }",
            "clients.api.chaos.delay.latency.max",
            true,
        ),
        field(
            "[clients.api.chaos.delay]\npercent = 1.0\nlatency = { kind = \"exponential\", mean = \"{v}\" }",
            "clients.api.chaos.delay.latency.mean",
            true,
        ),
    ]
}

/// Values no duration field may hold: past a day (the loaded ones), and
/// past what a duration can hold at all (refused by the parser).
const ABSURD: [&str; 5] = [
    "300000000000y",
    "24h 1ns",
    "1000000000000000000000y",
    "-1s",
    "18446744073709551615s 1s",
];

#[test]
fn every_duration_field_refuses_absurd_values_naming_its_full_path() {
    let fields = fields();
    let mut refusals = 0;
    for field in &fields {
        for value in ABSURD {
            let source = field.toml.replace("{v}", value);
            let err = ServiceConfig::from_toml(&source)
                .err()
                .unwrap_or_else(|| panic!("{value:?} loaded in\n{source}"));
            assert_eq!(err.field(), field.path, "{value:?}: {err}");
            refusals += 1;
        }
        let zero = ServiceConfig::from_toml(&field.toml.replace("{v}", "0s"));
        match (field.zero_refused, zero) {
            (true, Ok(_)) => panic!("{}: zero loaded", field.path),
            (true, Err(err)) => assert_eq!(err.field(), field.path, "0s: {err}"),
            (false, Err(err)) => panic!("{}: zero means something: {err}", field.path),
            (false, Ok(_)) => {}
        }
        // The field's section is otherwise valid: a sane value loads.
        ServiceConfig::from_toml(&field.toml.replace("{v}", "1s"))
            .unwrap_or_else(|err| panic!("{}: 1s refused: {err}", field.path));
    }
    assert!(fields.len() >= 40, "{} fields", fields.len());
    assert_eq!(refusals, fields.len() * ABSURD.len());
}

#[test]
fn the_reported_cases_are_refused_at_load() {
    let err = ServiceConfig::from_toml("[server]\ntimeout = \"300000000000y\"").unwrap_err();
    assert_eq!(err.to_string(), "server.timeout: must be at most 86400s");
    let err = ServiceConfig::from_toml("[clients.db]\ntimeout = \"300000000000y\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "clients.db.timeout: must be at most 86400s"
    );
    let err = ServiceConfig::from_toml("[clients.db.breaker]\nwait = \"0s\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "clients.db.breaker.wait: must be greater than zero"
    );
    // The longest allowed loads.
    ServiceConfig::from_toml(
        "[server]\ntimeout = \"1day\"\n[clients.db.breaker]\nwait = \"24h\"\nbackoff = { max_wait = \"24h\" }",
    )
    .unwrap();
}

/// Every duration at the longest its bounds allow (a day, or the field's
/// own tighter cap), each layer on.
const LONGEST: &str = r#"
[server]
name = "longest"
timeout = "24h"

[server.context]
trust = "always"
max_deadline = "24h"
default_deadline = "24h"

[server.rate_limit]
key = { header = "x-key" }
quota = { limit = 1, period = "24h", burst = 1 }
max_keys = 64

[server.shed]
escalate_after = "24h"
cooldown = "24h"
retry_after = "24h"
signal = { kind = "queue_delay", target = "24h", interval = "24h" }

[server.adaptive_limit]
window = "24h"
drop_above = "24h"
probe_interval = "24h"
probe_jitter = 1.0
max_wait = "24h"
codel_target = "24h"
codel_interval = "24h"
retry_after = "24h"

[server.bulkhead]
max_concurrent = 2
queue_capacity = 8
max_wait = "24h"
retry_after = "24h"

[clients.api]
timeout = "24h"

[clients.api.context]
deadline_margin = "60s"

[clients.api.retry]
max_attempts = 10
max_retry_after = "24h"
timeout = "24h"
idempotency = "ignored"
backoff = { base = "24h", max = "24h", jitter = "decorrelated" }
budget = { ratio = 10.0, min_per_sec = 100000, window = "1h" }

[clients.api.throttle]
window = "24h"
buckets = 3600
retry_after = "24h"

[clients.api.breaker]
window = { kind = "time", duration = "24h", buckets = 1000 }
minimum_calls = 2
failure_rate = 50.0
wait = "24h"
backoff = { multiplier = 1000.0, max_wait = "24h", jitter = 0.9 }
slow_calls = { threshold = "24h", rate = 100.0 }

[clients.api.bulkhead]
max_concurrent = 2
queue_capacity = 8
max_wait = "24h"
retry_after = "24h"

[clients.api.fallback]
response = { status = 200, body = "fallback" }
stale = { max_age = "24h", refresh = "24h" }

[clients.api.chaos]
max_delay = "60s"
directives = true
delay = { percent = 50.0, latency = { kind = "fixed", delay = "60s" } }
"#;

/// The same with each layer's other shapes: a latency shed signal, a
/// count-window breaker, other chaos latencies.
const LONGEST_OTHER_SHAPES: &str = r#"
[server]
timeout = { limit = "24h" }

[server.shed]
signal = { kind = "latency", target = "24h", relief = "24h", window = "24h" }
cooldown = "24h"

[server.adaptive_limit]
window = "24h"
probe_interval = "24h"
max_wait = "24h"
codel_target = "0s"
codel_interval = "24h"

[clients.api]
timeout = "24h"

[clients.api.retry]
backoff = { base = "24h", max = "24h", jitter = "full" }
max_retry_after = "24h"

[clients.api.breaker]
window = { kind = "count", size = 4 }
minimum_calls = 2
wait = "24h"
backoff = { multiplier = 2.0, max_wait = "24h" }

[clients.api.chaos]
max_delay = "60s"
delay = { percent = 50.0, latency = { kind = "exponential", mean = "60s" } }

[clients.other]
timeout = "24h"

[clients.other.chaos]
max_delay = "60s"
delay = { percent = 100.0, latency = { kind = "uniform", min = "60s", max = "60s" } }
"#;

/// A handler per behaviour: fine, failing, and slower than any timeout.
fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "fail") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(MAX_DURATION * 2).await;
                "late"
            }),
        )
}

/// A request to the server stack, from a caller with its own rate-limit
/// key, asking for the longest deadlines its headers can say.
fn server_request(path: &str, key: u32) -> http::Request<Body> {
    http::Request::get(path)
        .header("x-key", key.to_string())
        .header("x-request-timeout-ms", "18446744073709551615")
        .header("grpc-timeout", "99999999H")
        .header("x-buttress-fault", "api=delay:60000ms")
        .body(Body::empty())
        .unwrap()
}

async fn drive_server(config: &ServiceConfig) {
    let stack = config.build_server().unwrap();
    let app = routes().layer(stack);
    let mut key = 0;
    let mut send = |path: &'static str| {
        key += 1;
        app.clone().oneshot(server_request(path, key))
    };
    for round in 0..4 {
        let start = tokio::time::Instant::now();
        assert_eq!(send("/ok").await.unwrap().status(), 200, "round {round}");
        assert_eq!(send("/fail").await.unwrap().status(), 500, "round {round}");
        // The slow handler ends at the server's timeout: a day.
        let slow = send("/slow").await.unwrap();
        assert_eq!(slow.status(), 504, "round {round}");
        let took = start.elapsed();
        assert!(took >= MAX_DURATION && took < MAX_DURATION * 2, "{took:?}");
        // A month later, everything is as it was.
        tokio::time::advance(MAX_DURATION * 30).await;
    }
    // One key over its quota of one a day: 429, back in at most a day.
    let limited = ServiceConfig::from_toml(
        "[server.rate_limit]\nkey = { header = \"x-key\" }\nquota = { limit = 1, period = \"24h\", burst = 1 }",
    )
    .unwrap()
    .build_server()
    .unwrap();
    let app = routes().layer(limited);
    let once = || app.clone().oneshot(server_request("/ok", 7));
    assert_eq!(once().await.unwrap().status(), 200);
    let refused = once().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((86_000..=86_400).contains(&retry_after), "{retry_after}");
    tokio::time::advance(MAX_DURATION).await;
    assert_eq!(once().await.unwrap().status(), 200);
}

type Res = http::Response<String>;

/// A dependency: 200, 503 asking to come back in a day, a transport
/// error, or an answer slower than any timeout, by the request's path.
fn dependency(
    calls: Arc<AtomicU32>,
) -> impl tower::Service<
    http::Request<()>,
    Response = Res,
    Error = BoxError,
    Future = impl Future<Output = Result<Res, BoxError>> + Send,
> + Clone
+ Send {
    tower::service_fn(move |req: http::Request<()>| {
        calls.fetch_add(1, Ordering::Relaxed);
        async move {
            let status = match req.uri().path() {
                "/ok" => 200,
                "/unavailable" => 503,
                "/reset" => return Err::<Res, BoxError>("connection reset".into()),
                _ => {
                    tokio::time::sleep(MAX_DURATION * 2).await;
                    200
                }
            };
            Ok(http::Response::builder()
                .status(status)
                .header("retry-after", "86400")
                .body(String::from("real"))
                .unwrap())
        }
    })
}

async fn drive_client(config: &ServiceConfig, name: &str) {
    let calls = Arc::new(AtomicU32::new(0));
    let stack = config.client_stack(name).unwrap().clone_requests();
    match stack.config().fallback.clone() {
        Some(fallback) => {
            let layer = stack.fallback(fallback).build().unwrap();
            drive_client_service(layer.layer(dependency(calls.clone()))).await;
        }
        None => {
            let layer = stack.build().unwrap();
            drive_client_service(layer.layer(dependency(calls.clone()))).await;
        }
    }
    assert!(calls.load(Ordering::Relaxed) > 0);
}

/// Calls every kind of answer a few times, a month apart: each call ends
/// within a week of paused time, with an answer or a refusal whose hint
/// is at most a day.
async fn drive_client_service<S, B>(client: S)
where
    S: tower::Service<http::Request<()>, Response = http::Response<B>> + Clone,
    S::Error: Into<BoxError>,
{
    for round in 0..3 {
        for path in ["/ok", "/unavailable", "/reset", "/hang", "/ok"] {
            let start = tokio::time::Instant::now();
            let call = client
                .clone()
                .oneshot(http::Request::get(path).body(()).unwrap());
            let result = tokio::time::timeout(MAX_DURATION * 7, call)
                .await
                .unwrap_or_else(|_| panic!("{path} round {round}: no answer within a week"));
            match result {
                Ok(res) => assert!(
                    [200, 503].contains(&res.status().as_u16()),
                    "{path} round {round}: {}",
                    res.status()
                ),
                Err(err) => {
                    let err = err.into();
                    if let Some(rejected) = Rejected::find(&*err) {
                        let hint = rejected.retry_after().unwrap_or_default();
                        assert!(hint <= MAX_DURATION, "{path}: {rejected:?}");
                    }
                }
            }
            assert!(start.elapsed() <= MAX_DURATION * 7);
        }
        tokio::time::advance(MAX_DURATION * 30).await;
    }
}

#[tokio::test(start_paused = true)]
async fn every_layer_at_its_longest_durations_answers_without_panicking() {
    let longest = ServiceConfig::from_toml(LONGEST).unwrap();
    let other = ServiceConfig::from_toml(LONGEST_OTHER_SHAPES).unwrap();
    drive_server(&longest).await;
    drive_server(&other).await;
    drive_client(&longest, "api").await;
    drive_client(&other, "api").await;
    drive_client(&other, "other").await;
}

#[tokio::test(start_paused = true)]
async fn keyed_layers_at_their_longest_durations_answer_without_panicking() {
    let longest = ServiceConfig::from_toml(LONGEST).unwrap();
    let api = &longest.clients["api"];
    let by_path = |req: &http::Request<()>| req.uri().path().to_owned();
    let breaker = CircuitBreakerLayer::builder()
        .with_config(api.breaker.settings().unwrap().clone())
        .build_keyed(by_path)
        .unwrap();
    let bulkhead = BulkheadLayer::builder()
        .with_config(api.bulkhead.settings().unwrap().clone())
        .build_keyed(by_path)
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let client = tower::ServiceBuilder::new()
        .layer(breaker)
        .layer(bulkhead)
        .layer(TimeoutLayer::new(MAX_DURATION).unwrap())
        .service(dependency(calls.clone()));
    drive_client_service(client).await;
    assert!(calls.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn the_longest_server_stack_answers_on_a_real_server() {
    let stack = ServiceConfig::from_toml(LONGEST)
        .unwrap()
        .build_server()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = routes().layer(stack);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str, key: &str| {
        client
            .get(format!("http://{addr}{path}"))
            .header("x-key", key)
            .header("x-request-timeout-ms", "18446744073709551615")
            .header("grpc-timeout", "99999999H")
            .send()
    };
    assert_eq!(get("/ok", "a").await.unwrap().status(), 200);
    assert_eq!(get("/fail", "b").await.unwrap().status(), 500);
    // One a day per key: the second is refused, back in a day.
    let refused = get("/ok", "a").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "86400");
}
