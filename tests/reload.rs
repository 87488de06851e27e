//! A running service follows its TOML file: a real file, a real axum
//! server on 127.0.0.1 served through the stacks that file configures,
//! under steady client traffic. A bulkhead cut from 10 to 2 holds at 2
//! once the calls already running end, with no request failing; an open
//! breaker stays open across a reload that only changes its wait (no call
//! reaches the dependency while it is open), and its next opening lasts
//! the new wait; a file with an invalid value changes nothing (the
//! traffic keeps being served under the old limit, none of it failing),
//! and its error, with the field path, shows on the admin router and in
//! the reload-failure counter.
//!
//! Real sockets, so real time: every wait is bounded, with generous
//! margins, and the figures measured are printed (`--nocapture`).

#![cfg(all(
    feature = "admin",
    feature = "stack",
    feature = "serde",
    feature = "serve"
))]

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use buttress::breaker::State;
use buttress::config::{Reloader, ServiceConfig};
use buttress::stack::ServerLayer;
use buttress::{Reason, Rejected};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::Connection;
use support::scratch::Scratch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// A config file of its own for each test.
/// The test's own `service.toml` holding `text`, in a scratch directory
/// that goes when the first half of the pair is dropped.
fn file(test: &str, text: &str) -> (Scratch, PathBuf) {
    let scratch = Scratch::new(&format!("reload-{test}"));
    let path = scratch.write("service.toml", text);
    (scratch, path)
}

fn service_toml(max_concurrent: &str, wait: &str) -> String {
    format!(
        r#"
[server]
name = "shop"

[server.bulkhead]
max_concurrent = {max_concurrent}
max_wait = "5s"
queue_capacity = 1000

[clients.dep]
retry = false
[clients.dep.breaker]
wait = "{wait}"
minimum_calls = 2
window = {{ kind = "count", size = 4 }}
"#
    )
}

/// In flight in the handler now, and the most seen since the last reset.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    /// Starts the window of `max` afresh from what runs now.
    fn reset(&self) {
        self.max
            .store(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// A real axum server on 127.0.0.1 whose `/work` takes 10 ms, behind
/// `server` (the stack the file configures); the gauge counts the calls
/// inside the handler.
async fn serve_through(server: &ServerLayer) -> (SocketAddr, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let handler_gauge = gauge.clone();
    let app = Router::new()
        .route(
            "/work",
            get(move || {
                let gauge = handler_gauge.clone();
                async move {
                    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    gauge.now.fetch_sub(1, Ordering::SeqCst);
                    "done"
                }
            }),
        )
        .layer(server.clone());
    let addr = support::serve_app(app).await;
    (addr, gauge)
}

/// Steady traffic: 16 connections, each sending one request after
/// another until stopped; more than a bulkhead of 10 lets in at once.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<()>>,
}

impl Traffic {
    fn start(addr: SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let clients = (0..16)
            .map(|_| {
                let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
                tokio::spawn(async move {
                    let mut conn = Connection::open(addr).await;
                    while !stop.load(Ordering::SeqCst) {
                        let answer = conn.get("/work", &[]).await;
                        sent.fetch_add(1, Ordering::SeqCst);
                        if answer.status != 200 {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            sent,
            failed,
            clients,
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops the clients; (requests sent, requests failed).
    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.unwrap();
        }
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulkhead_cut_from_10_to_2_holds_at_2_and_fails_nothing() {
    let (_scratch, path) = file("bulkhead", &service_toml("10", "10s"));
    let config = ServiceConfig::from_path(&path).unwrap();
    let server = config.build_server().unwrap();
    let reloader = Reloader::new(&path).server(&server);
    let watch = reloader.watch(Duration::from_millis(20));
    let (addr, gauge) = serve_through(&server).await;
    let traffic = Traffic::start(addr);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = gauge.max();
    assert!(
        before > 2,
        "the traffic runs more than 2 at once at first: {before}"
    );
    assert!(before <= 10, "the bulkhead holds at 10: {before}");

    std::fs::write(&path, service_toml("2", "10s")).unwrap();
    let waited = Instant::now();
    while server.bulkhead().unwrap().max_concurrent() != 2 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "the watch never reloaded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = waited.elapsed();
    // The calls admitted under the old limit end within a handler's time.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gauge.reset();
    let sent_at_cut = traffic.sent();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (sent, failed) = traffic.stop().await;
    let after = gauge.max();
    println!(
        "bulkhead cut: in flight at most {before} before, {after} after; the watch applied \
         the file in {took:?}; {sent} requests ({} after the cut), {failed} failed",
        sent - sent_at_cut
    );
    assert!(after <= 2, "{after} calls at once after the cut to 2");
    assert!(sent > sent_at_cut + 20, "traffic kept flowing");
    assert_eq!(failed, 0, "no request failed");
    assert_eq!(reloader.status().applied, 1);
    assert_eq!(
        server.config().bulkhead.settings().unwrap().max_concurrent,
        2
    );
    watch.abort();
}

/// Polls `done` every 2 ms for up to 10 s; how long it took.
async fn wait_until(what: &str, done: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// What the client traffic got back.
#[derive(Default)]
struct Outcomes {
    ok: AtomicUsize,
    /// The dependency's own 500s, while it is down.
    failed: AtomicUsize,
    /// Refused by the open breaker.
    refused: AtomicUsize,
    /// Anything else: there should be none.
    other: AtomicUsize,
    /// Calls started and not yet answered.
    in_flight: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_stays_open_when_only_its_wait_changes() {
    // Open for 2 s at first; the reload makes it 250 ms. Far apart, so
    // which wait an opening lasted shows on a real clock.
    let (_scratch, path) = file("breaker", &service_toml("10", "2s"));
    let config = ServiceConfig::from_path(&path).unwrap();
    let server = config.build_server().unwrap();
    let client = config
        .client_stack("dep")
        .unwrap()
        .clone_requests()
        .build()
        .unwrap();
    let reloader = Reloader::new(&path).server(&server).client("dep", &client);
    let breaker = client.breaker().unwrap().clone();

    // The dependency: a real axum server behind the file's server stack,
    // answering 500 while `failing`; `hits` counts the calls that reach it.
    let failing = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let (flag, seen) = (failing.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/dep",
            get(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                let failing = flag.load(Ordering::SeqCst);
                async move {
                    if failing {
                        (StatusCode::INTERNAL_SERVER_ERROR, "down")
                    } else {
                        (StatusCode::OK, "up")
                    }
                }
            }),
        )
        .layer(server.clone());
    let addr = support::serve_app(app).await;

    // Steady traffic through the file's client stack: 4 callers, each a
    // call every 2 ms or so.
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let service = client.layer(http);
    let outcomes = Arc::new(Outcomes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (service, outcomes, stop) = (service.clone(), outcomes.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let request = http::Request::get(format!("http://{addr}/dep"))
                        .body(Empty::new())
                        .unwrap();
                    outcomes.in_flight.fetch_add(1, Ordering::SeqCst);
                    let answer = service.clone().oneshot(request).await;
                    let counter = match answer {
                        Ok(response) => {
                            let status = response.status();
                            let _ = response.into_body().collect().await;
                            match status.as_u16() {
                                200 => &outcomes.ok,
                                500 => &outcomes.failed,
                                _ => &outcomes.other,
                            }
                        }
                        Err(error) => match Rejected::find(&*error).map(Rejected::reason) {
                            Some(Reason::CircuitOpen) => &outcomes.refused,
                            _ => &outcomes.other,
                        },
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    outcomes.in_flight.fetch_sub(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();

    wait_until("the breaker opens", || breaker.state() == State::Open).await;
    let opened = Instant::now();
    // Calls the breaker admitted before it opened may still be on their
    // way to the dependency. Once no call at all is in flight, every one
    // of them has been answered, and every later call met the open
    // breaker; only then is the dependency's count the one to hold.
    wait_until("the calls admitted before the opening finish", || {
        outcomes.in_flight.load(Ordering::SeqCst) == 0
    })
    .await;
    let hits_at_open = hits.load(Ordering::SeqCst);

    std::fs::write(&path, service_toml("10", "250ms")).unwrap();
    reloader.reload().unwrap();
    assert_eq!(
        breaker.state(),
        State::Open,
        "the reload kept the breaker open"
    );
    assert_eq!(
        client.config().breaker.settings().unwrap().wait,
        Duration::from_millis(250)
    );
    // The dependency is well again: a breaker the reload had reset would
    // let the traffic through to it at once. For 150 ms (less than either
    // wait) every call is refused and none reaches it.
    failing.store(false, Ordering::SeqCst);
    let refused_at_reload = outcomes.refused.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(breaker.state(), State::Open, "still open after the reload");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        hits_at_open,
        "no call reached the dependency while the breaker stayed open"
    );
    let refused_after_reload = outcomes.refused.load(Ordering::SeqCst) - refused_at_reload;
    assert!(
        refused_after_reload > 10,
        "the traffic kept coming and was refused: {refused_after_reload}"
    );
    // The opening in progress ends (after the wait it started with, or
    // the new one) and a probe closes it.
    wait_until("the breaker closes", || breaker.state() == State::Closed).await;
    let first_opening = opened.elapsed();

    // The next opening lasts the new wait, 250 ms, not 2 s.
    failing.store(true, Ordering::SeqCst);
    wait_until("the breaker opens again", || breaker.state() == State::Open).await;
    let reopened = Instant::now();
    failing.store(false, Ordering::SeqCst);
    wait_until("the breaker leaves open", || breaker.state() != State::Open).await;
    let second_opening = reopened.elapsed();
    wait_until("the breaker closes again", || {
        breaker.state() == State::Closed
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.unwrap();
    }
    let count = |c: &AtomicUsize| c.load(Ordering::SeqCst);
    println!(
        "breaker: first opening {first_opening:?} (reloaded to a 250 ms wait within it), \
         {refused_after_reload} calls refused in the 150 ms after the reload, next opening \
         {second_opening:?}; calls: {} ok, {} failed by the dependency, {} refused, {} other",
        count(&outcomes.ok),
        count(&outcomes.failed),
        count(&outcomes.refused),
        count(&outcomes.other),
    );
    // Generous on a real clock: the detection lag is a poll (2 ms) and a
    // call's time, far below 50 ms; a 2 s opening is far above 1.5 s.
    assert!(
        second_opening >= Duration::from_millis(200)
            && second_opening < Duration::from_millis(1_500),
        "the next opening took the new 250 ms wait: {second_opening:?}"
    );
    assert_eq!(count(&outcomes.other), 0, "only 200s, 500s and refusals");
    assert!(count(&outcomes.ok) > 0);
    assert_eq!(reloader.status().applied, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_changes_nothing_and_says_why() {
    let (_scratch, path) = file("invalid", &service_toml("10", "10s"));
    let config = ServiceConfig::from_path(&path).unwrap();
    let server = config.build_server().unwrap();
    let reloader = Reloader::new(&path).server(&server);
    let admin = buttress::admin::with_reloader(
        buttress::admin::router(buttress::metrics::MetricsSink::new().health().clone()),
        reloader.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, admin).await.unwrap() });
    let (addr, gauge) = serve_through(&server).await;
    let traffic = Traffic::start(addr);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = gauge.max();
    assert!(
        before > 2 && before <= 10,
        "the bulkhead holds at 10: {before}"
    );

    // An invalid value, applied on demand under a recorder of this test's
    // own (the counter is process-wide; other tests here reload too).
    std::fs::write(&path, service_toml("0", "10s")).unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let refused = metrics::with_local_recorder(&recorder, || reloader.reload());
    let error = refused.unwrap_err();
    assert_eq!(error.field(), "server.bulkhead.max_concurrent");
    assert_eq!(
        server.bulkhead().unwrap().max_concurrent(),
        10,
        "the old config stays"
    );
    let failures: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "buttress.config.reload.failures")
        .map(|(.., value)| value)
        .collect();
    assert_eq!(failures, [DebugValue::Counter(1)]);

    // The traffic goes on under the old limit: up to 10 at once, not 0.
    gauge.reset();
    let sent_at_refusal = traffic.sent();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = gauge.max();
    let mut conn = Connection::open(admin_addr).await;
    let status = conn.get("/config/status", &[]).await;
    let body = String::from_utf8_lossy(&status.body).into_owned();
    let running = conn.get("/config", &[]).await;
    let (sent, failed) = traffic.stop().await;
    println!(
        "invalid file: in flight at most {before} before, {after} after the refused reload; \
         {sent} requests ({} after it), {failed} failed",
        sent - sent_at_refusal
    );
    assert!(
        after > 2 && after <= 10,
        "still served under the old limit of 10: {after} at once"
    );
    assert!(sent > sent_at_refusal + 20, "traffic kept flowing");
    assert_eq!(failed, 0, "no request failed");
    assert_eq!(status.status, 200);
    assert!(body.contains(r#""failed":1"#), "{body}");
    assert!(
        body.contains(r#""field":"server.bulkhead.max_concurrent""#),
        "{body}"
    );
    let text = String::from_utf8_lossy(&running.body).into_owned();
    assert!(text.contains("max_concurrent = 10"), "{text}");

    // A change a running stack cannot take refuses the whole file too.
    std::fs::write(
        &path,
        service_toml("3", "10s") + "\n[server.metrics]\nroute_cap = 7\n",
    )
    .unwrap();
    let error = reloader.reload().unwrap_err();
    assert_eq!(error.field(), "server.metrics", "{error}");
    std::fs::write(
        &path,
        service_toml("3", "10s")
            .replace("name = \"shop\"", "name = \"shop\"\nadaptive_limit = false"),
    )
    .unwrap();
    let error = reloader.reload().unwrap_err();
    assert_eq!(
        error.field(),
        "server.adaptive_limit",
        "turning a layer off needs a restart: {error}"
    );
    assert_eq!(reloader.status().failed, 3);
    assert_eq!(server.bulkhead().unwrap().max_concurrent(), 10);
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads() {
    let (_scratch, path) = file("sighup", &service_toml("10", "10s"));
    let server = ServiceConfig::from_path(&path)
        .unwrap()
        .build_server()
        .unwrap();
    let reloader = Reloader::new(&path).server(&server);
    let task = reloader.reload_on_sighup().unwrap();
    std::fs::write(&path, service_toml("4", "10s")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let waited = tokio::time::Instant::now();
    while server.bulkhead().unwrap().max_concurrent() != 4 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
}

#[tokio::test]
async fn reloads_are_announced_on_the_event_feed() {
    use buttress::metrics::{FeedItem, LayerEventKind};
    let (_scratch, path) = file("announce", &service_toml("10", "10s"));
    let server = ServiceConfig::from_path(&path)
        .unwrap()
        .build_server()
        .unwrap();
    let sink = buttress::metrics::MetricsSink::new();
    let mut feed = sink.health().subscribe();
    let reloader = Reloader::new(&path)
        .server(&server)
        .announce_to(sink.health());
    std::fs::write(&path, service_toml("0", "10s")).unwrap();
    assert!(reloader.reload().is_err());
    std::fs::write(&path, service_toml("5", "10s")).unwrap();
    reloader.reload().unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let Some(FeedItem::Event(event)) = feed.next().await else {
            panic!("an event")
        };
        assert!(event.layer.is_none());
        seen.push(event.kind.clone());
        assert!(
            event.to_json().starts_with(r#"{"event":"reload""#),
            "{}",
            event.to_json()
        );
    }
    assert!(matches!(
        &seen[0],
        LayerEventKind::Reload { applied: false, error: Some(e) } if e.contains("server.bulkhead.max_concurrent")
    ));
    assert_eq!(
        seen[1],
        LayerEventKind::Reload {
            applied: true,
            error: None
        }
    );
}

#[tokio::test]
async fn the_adaptive_limit_takes_new_bounds_at_once() {
    let (_scratch, path) = file("adaptive", &service_toml("10", "10s"));
    let server = ServiceConfig::from_path(&path)
        .unwrap()
        .build_server()
        .unwrap();
    let reloader = Reloader::new(&path).server(&server);
    assert_eq!(server.adaptive_limit().unwrap().limit(), 20);
    let bounded = service_toml("10", "10s").replace(
        "[server.bulkhead]",
        "[server.adaptive_limit]\nmax_limit = 6\n\n[server.bulkhead]",
    );
    std::fs::write(&path, bounded).unwrap();
    reloader.reload().unwrap();
    assert_eq!(server.adaptive_limit().unwrap().limit(), 6);
    assert_eq!(
        server.config().adaptive_limit.settings().unwrap().max_limit,
        6
    );
}

#[tokio::test]
async fn the_shedder_takes_a_new_hint() {
    let (_scratch, path) = file("shed", &service_toml("10", "10s"));
    let server = ServiceConfig::from_path(&path)
        .unwrap()
        .build_server()
        .unwrap();
    let reloader = Reloader::new(&path).server(&server);
    let hinted = service_toml("10", "10s") + "\n[server.shed]\nretry_after = \"7s\"\n";
    std::fs::write(&path, hinted).unwrap();
    reloader.reload().unwrap();
    assert_eq!(
        server.shed().unwrap().config().retry_after,
        Duration::from_secs(7)
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_takes_new_quotas_and_every_caller_keeps_its_state() {
    let with_quota = |limit: u32| {
        service_toml("10", "10s")
            + &format!(
                "\n[server.rate_limit]\nkey = {{ header = \"x-tenant\" }}\n\
                 quota = {{ limit = {limit}, period = \"1m\", burst = {limit} }}\n"
            )
    };
    let (_scratch, path) = file("rate", &with_quota(3));
    let server = ServiceConfig::from_path(&path)
        .unwrap()
        .build_server()
        .unwrap();
    let reloader = Reloader::new(&path).server(&server);
    let service = server.layer(tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    }));
    let call = |tenant: &'static str| {
        let request = http::Request::get("/")
            .header("x-tenant", tenant)
            .body(String::new())
            .unwrap();
        service.clone().oneshot(request)
    };
    for _ in 0..3 {
        assert_eq!(call("spent").await.unwrap().status(), 200);
    }
    assert_eq!(call("spent").await.unwrap().status(), 429);

    // Six a minute now: a new caller gets the new burst; the one that
    // spent its quota keeps its state (the time its bucket is full
    // again), so it is still refused.
    std::fs::write(&path, with_quota(6)).unwrap();
    reloader.reload().unwrap();
    assert_eq!(
        server.rate_limit().unwrap().config().quota.limit,
        6,
        "the running quota"
    );
    assert_eq!(call("spent").await.unwrap().status(), 429);
    for _ in 0..6 {
        assert_eq!(call("fresh").await.unwrap().status(), 200);
    }
    let refused = call("fresh").await.unwrap();
    assert_eq!(refused.status(), 429);
    let policy = refused.headers()["ratelimit-policy"].to_str().unwrap();
    assert!(
        policy.contains("q=6") && policy.contains("w=60"),
        "{policy}"
    );

    // A change to what a key is needs a restart, and changes nothing.
    std::fs::write(&path, with_quota(6).replace("x-tenant", "x-api-key")).unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(err.field(), "server.rate_limit.key");
    assert_eq!(call("fresh").await.unwrap().status(), 429);
}

/// A balanced client reloads above the balancer and below it: every live
/// endpoint's breaker, bulkhead and timeout take the new sections (each
/// endpoint's layer report shows them), endpoints keep their state, and
/// a change to the balancer's own section is refused with the field,
/// changing nothing.
#[cfg(feature = "balance")]
#[tokio::test]
async fn a_balanced_client_reloads_every_endpoint() {
    use buttress::metrics::MetricsSink;
    use tower::ServiceExt;

    let toml = |attempts: u32, wait: &str, concurrent: u32| {
        format!(
            "[clients.dep]\n[clients.dep.retry]\nmax_attempts = {attempts}\n\
             [clients.dep.breaker]\nwait = \"{wait}\"\n\
             [clients.dep.bulkhead]\nmax_concurrent = {concurrent}\n\
             [clients.dep.balance]\nendpoints = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"
        )
    };
    let (_scratch, path) = file("balanced", &toml(3, "10s", 8));
    let sink = MetricsSink::new();
    let stack = ServiceConfig::from_path(&path).unwrap().clients["dep"].clone();
    let client = buttress::stack::ClientStack::from_config("dep", stack)
        .clone_requests()
        .sink(sink.clone())
        .build()
        .unwrap();
    let reloader = Reloader::new(&path).client("dep", &client);
    let service = client
        .balanced(|addr: &std::net::SocketAddr| {
            let port = addr.port();
            tower::service_fn(move |_req: http::Request<()>| async move {
                Ok::<_, std::io::Error>(http::Response::new(port))
            })
        })
        .unwrap();
    // The endpoints are built when the balancer first looks for them.
    service.oneshot(http::Request::new(())).await.unwrap();
    let report = |endpoint: &str| {
        sink.health()
            .layer_json(&format!("dep/127.0.0.1:{endpoint}"))
            .unwrap_or_default()
    };
    for endpoint in ["1", "2"] {
        assert!(
            report(endpoint).contains(r#""wait":"10s""#),
            "{}",
            report(endpoint)
        );
        assert!(
            report(endpoint).contains(r#""max_concurrent":8"#),
            "{}",
            report(endpoint)
        );
    }

    std::fs::write(&path, toml(5, "20s", 2)).unwrap();
    reloader.reload().unwrap();
    assert_eq!(client.config().retry.settings().unwrap().max_attempts, 5);
    for endpoint in ["1", "2"] {
        assert!(
            report(endpoint).contains(r#""wait":"20s""#),
            "{}",
            report(endpoint)
        );
        assert!(
            report(endpoint).contains(r#""max_concurrent":2"#),
            "{}",
            report(endpoint)
        );
    }

    let moved = toml(5, "20s", 2).replace("127.0.0.1:2", "127.0.0.1:3");
    std::fs::write(&path, moved).unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(err.field(), "clients.dep.balance");
    assert!(report("1").contains(r#""wait":"20s""#), "{}", report("1"));
}

/// A hedged client takes new hedge delays from the file; turning hedging
/// off (or from a fixed delay to an adaptive one) is refused with the
/// field, changing nothing.
#[tokio::test]
async fn a_hedged_client_takes_new_hedge_delays() {
    let toml = |hedge: &str| format!("[clients.dep]\n[clients.dep.hedge]\n{hedge}\n");
    let (_scratch, path) = file("hedged", &toml("delay = \"50ms\""));
    let client = ServiceConfig::from_path(&path)
        .unwrap()
        .build_client("dep")
        .unwrap();
    let reloader = Reloader::new(&path).client("dep", &client);
    let hedge_delay = || {
        client
            .retry()
            .config()
            .hedge
            .expect("a hedging retry")
            .delay
    };
    assert_eq!(hedge_delay(), Some(Duration::from_millis(50)));

    std::fs::write(&path, toml("delay = \"5ms\"")).unwrap();
    reloader.reload().unwrap();
    assert_eq!(hedge_delay(), Some(Duration::from_millis(5)));

    std::fs::write(&path, toml("percentile = 95.0")).unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(err.field(), "clients.dep.hedge.delay");
    std::fs::write(&path, "[clients.dep]\n").unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(err.field(), "clients.dep.hedge");
    assert_eq!(hedge_delay(), Some(Duration::from_millis(5)));
}
