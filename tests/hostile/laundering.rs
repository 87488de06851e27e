//! (4) Header laundering through a gateway. A handler that copied its
//! caller's headers onto a call through a default `ClientStack` passed the
//! caller's `x-request-timeout-ms`, `grpc-timeout`, fault directive and
//! criticality on untouched whenever its own context had no deadline —
//! which, behind the default server stack, was every untrusted request —
//! so a downstream that trusts the gateway adopted a 599,999 ms deadline
//! and ran the injected fault.
//!
//! Now every request a server stack serves has a deadline (a trusted
//! caller's, at most the stack's timeout; else the timeout), and the
//! client context layer bounds every deadline header on the call by the
//! time left (a shorter timeout the application set, tonic's
//! `set_timeout`, still wins) and writes criticality and fault directive
//! from the context alone. All on real loopback sockets: an attacker →
//! a gateway (axum, default server stack, handler copying every header
//! onto a call through a default client stack over hyper-util's client)
//! → a downstream (axum, trusting the gateway) that records what it gets.
#![cfg(feature = "chaos")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::get;
use buttress::chaos::ChaosLayer;
use buttress::context::{ServerContextConfig, TrustConfig};
use buttress::core::codec::parse_grpc_timeout;
use buttress::core::layer::LayerBuilder;
use buttress::retry::ReplayBody;
use buttress::stack::{ClientStack, DEFAULT_SERVER_TIMEOUT, ServerStack};
use buttress::{BoxError, Criticality, Rejected, RequestContext};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

/// What the attacker sends: the longest deadline the header allows and
/// a bit, a fault on the downstream's database, the top criticality.
const ATTACK: [(&str, &str); 4] = [
    ("x-request-timeout-ms", "599999"),
    ("grpc-timeout", "599999m"),
    ("x-buttress-fault", "dependency=db;abort=503"),
    ("x-criticality", "CRITICAL_PLUS"),
];

/// The gateway trusts callers presenting this header (its own edge).
const TRUSTED: (&str, &str) = ("x-gateway-key", "s3cret");

/// What the downstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    /// Time left until the downstream's own deadline, on arrival.
    deadline_left: Duration,
    criticality: Criticality,
    fault: Option<HeaderValue>,
    /// How the downstream's call to its database went: `ok`, or the
    /// refusal's reason (`fault_injected` when the directive ran).
    db: &'static str,
}

type Log = Arc<Mutex<Vec<Seen>>>;

type Downstream = BoxCloneSyncService<
    http::Request<Empty<Bytes>>,
    http::Response<hyper::body::Incoming>,
    BoxError,
>;

#[derive(Clone)]
struct Gateway {
    client: Downstream,
    url: String,
    /// Headers the gateway's application sets on the call after copying
    /// (a timeout of its own, say).
    own: HeaderMap,
}

async fn serve(app: Router) -> String {
    let addr = crate::support::serve_app(app).await;
    format!("http://{addr}")
}

/// The downstream: trusts its caller (the gateway) for deadline,
/// criticality and fault, and calls a database through a chaos layer that
/// runs directives naming `db`.
async fn downstream(log: Log) -> String {
    let db = ChaosLayer::builder()
        .name("db")
        .configure(|c| c.directives = true)
        .build()
        .unwrap()
        .layer(tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    let record = move |headers: HeaderMap| {
        let (log, db) = (log.clone(), db.clone());
        async move {
            let ctx = RequestContext::current().expect("the server stack sets a context");
            let deadline = ctx.deadline().expect("the server stack sets a deadline");
            let db = match db.oneshot(http::Request::new(())).await {
                Ok(_) => "ok",
                Err(err) => Rejected::find(&*err).map_or("error", |r| r.reason().as_str()),
            };
            log.lock().unwrap().push(Seen {
                headers,
                deadline_left: deadline.saturating_duration_since(tokio::time::Instant::now()),
                criticality: ctx.criticality(),
                fault: ctx.raw_fault().cloned(),
                db,
            });
            "recorded"
        }
    };
    let trusting = ServerContextConfig {
        trust: TrustConfig::Always,
        ..ServerContextConfig::default()
    };
    let stack = ServerStack::new("downstream")
        .context(trusting)
        .build()
        .unwrap();
    serve(Router::new().route("/record", get(record)).layer(stack)).await
}

/// The gateway's handler: every header of its caller copied onto the call,
/// then its own, through the client stack.
async fn forward(State(gateway): State<Gateway>, request: Request) -> (StatusCode, String) {
    let mut call = http::Request::get(&gateway.url)
        .body(Empty::<Bytes>::new())
        .unwrap();
    *call.headers_mut() = request.headers().clone();
    for (name, value) in &gateway.own {
        call.headers_mut().insert(name, value.clone());
    }
    match gateway.client.oneshot(call).await {
        Ok(res) => (res.status(), String::new()),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

/// A gateway with the default server stack (trusting callers that send
/// [`TRUSTED`]) and a default client stack over hyper-util's client,
/// calling `downstream`; `own` are headers its application sets.
async fn gateway(downstream: &str, own: HeaderMap) -> String {
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let client = ClientStack::new("downstream")
        .build()
        .unwrap()
        .layer(transport);
    let state = Gateway {
        client: BoxCloneSyncService::new(client),
        url: format!("{downstream}/record"),
        own,
    };
    let trust = TrustConfig::Header {
        name: TRUSTED.0.into(),
        value: TRUSTED.1.into(),
    };
    let context = ServerContextConfig {
        trust,
        ..ServerContextConfig::default()
    };
    let stack = ServerStack::new("gateway")
        .context(context)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(forward))
        .with_state(state)
        .layer(stack);
    serve(app).await
}

/// Sends `headers` to `url` and returns what the downstream recorded.
async fn attack(url: &str, log: &Log, headers: &[(&str, &str)]) -> Seen {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let mut request = http::Request::get(format!("{url}/"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = client
        .request(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{body:?}");
    log.lock()
        .unwrap()
        .pop()
        .expect("the downstream was called")
}

fn millis(seen: &Seen, name: &str) -> u64 {
    seen.headers[name].to_str().unwrap().parse().unwrap()
}

fn grpc_timeout(seen: &Seen) -> Duration {
    parse_grpc_timeout(&seen.headers["grpc-timeout"]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_callers_copied_headers_steer_nothing_downstream() {
    let log = Log::default();
    let gateway = gateway(&downstream(log.clone()).await, HeaderMap::new()).await;
    let seen = attack(&gateway, &log, &ATTACK).await;
    eprintln!(
        "untrusted 599,999 ms: downstream got x-request-timeout-ms={} grpc-timeout={:?} and a deadline {:?} away; fault={:?}, db={}",
        millis(&seen, "x-request-timeout-ms"),
        grpc_timeout(&seen),
        seen.deadline_left,
        seen.fault,
        seen.db,
    );
    // The gateway's own deadline is its timeout; nothing later reaches on.
    assert!(millis(&seen, "x-request-timeout-ms") < DEFAULT_SERVER_TIMEOUT.as_millis() as u64);
    assert!(grpc_timeout(&seen) < DEFAULT_SERVER_TIMEOUT);
    assert!(seen.deadline_left < DEFAULT_SERVER_TIMEOUT);
    assert_eq!(
        seen.headers.get_all("x-request-timeout-ms").iter().count(),
        1
    );
    // No fault directive: not on the wire, not in the context, not run.
    assert!(seen.headers.get("x-buttress-fault").is_none());
    assert_eq!(seen.fault, None);
    assert_eq!(seen.db, "ok");
    // The gateway's criticality for an untrusted caller, not the caller's.
    assert_eq!(seen.headers["x-criticality"], "CRITICAL");
    assert_eq!(seen.criticality, Criticality::Critical);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_callers_context_crosses_bounded_by_its_own_deadline() {
    let log = Log::default();
    let gateway = gateway(&downstream(log.clone()).await, HeaderMap::new()).await;

    // A trusted caller's deadline, criticality and fault are the
    // gateway's context, and reach the downstream from it.
    let seen = attack(
        &gateway,
        &log,
        &[
            TRUSTED,
            ("x-request-timeout-ms", "300"),
            ("x-buttress-fault", "dependency=db;abort=503"),
            ("x-criticality", "SHEDDABLE"),
        ],
    )
    .await;
    assert!(millis(&seen, "x-request-timeout-ms") <= 300);
    assert!(seen.deadline_left <= Duration::from_millis(300));
    assert_eq!(seen.headers["x-buttress-fault"], "dependency=db;abort=503");
    assert_eq!(seen.db, "fault_injected");
    assert_eq!(seen.criticality, Criticality::Sheddable);

    // Even trusted, a deadline past the gateway's own timeout is cut to
    // it: the gateway will not wait longer, so neither may its calls.
    let mut trusted_attack = ATTACK.to_vec();
    trusted_attack.push(TRUSTED);
    let seen = attack(&gateway, &log, &trusted_attack).await;
    assert!(millis(&seen, "x-request-timeout-ms") < DEFAULT_SERVER_TIMEOUT.as_millis() as u64);
    assert!(grpc_timeout(&seen) < DEFAULT_SERVER_TIMEOUT);
    assert!(seen.deadline_left < DEFAULT_SERVER_TIMEOUT);
}

/// The application's own timeout on the call keeps working, the smaller
/// of it and the time left winning: tonic's `set_timeout` writes
/// `grpc-timeout` just as here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_timeout_the_application_set_still_wins() {
    let tonic_timeout = |timeout: Duration| {
        let mut request = tonic::Request::new(());
        request.set_timeout(timeout);
        let mut headers = request.metadata().clone().into_headers();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers
    };
    let log = Log::default();
    let downstream = downstream(log.clone()).await;

    let short = gateway(&downstream, tonic_timeout(Duration::from_millis(50))).await;
    let seen = attack(&short, &log, &ATTACK).await;
    assert_eq!(grpc_timeout(&seen), Duration::from_millis(50));
    assert!(seen.deadline_left <= Duration::from_millis(50));
    assert!(seen.headers.get("x-buttress-fault").is_none());

    // Longer than the time left: cut to it.
    let long = gateway(&downstream, tonic_timeout(Duration::from_secs(60))).await;
    let seen = attack(&long, &log, &ATTACK).await;
    assert!(grpc_timeout(&seen) < DEFAULT_SERVER_TIMEOUT);
    assert!(seen.deadline_left < DEFAULT_SERVER_TIMEOUT);
}
