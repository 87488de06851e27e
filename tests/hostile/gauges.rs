//! (7) Late-bound telemetry: gauges and `/health/report` that disagree
//! with the layers they describe.
//!
//! Reproduced against an earlier Buttress: a breaker built and tripped
//! before `buttress_metrics::install()` reported `closed` = 1 (in metrics
//! and in `/health/report`) while it was open, and after its next
//! transition two states read 1; the adaptive limit's in-flight gauge read
//! 1 while its handle read 0 after a storm of cancelled calls (the gauge
//! was sampled when a window closed, by a call still holding its permit,
//! and nothing reported it after). Now a layer built before the install
//! tells the sink its state and gauges when it binds, a state is shown
//! absolutely (one state at 1), and the permit pools report in flight and
//! queued on every change.
//!
//! The telemetry sink is global and installed once per process: every
//! test here goes through [`installed`], which builds the layers that must
//! exist *before* the install, then installs, whatever test asks first.
//! Metric handles are resolved against a recorder of this module's own
//! ([`GaugeRecorder`], local to the threads that build layers), so other
//! tests in this binary may install whatever global recorder they like;
//! layer names here are unique, so the layers other tests build (and the
//! install binds too) are not in the way.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress::breaker::{
    BackoffConfig, CircuitBreakerHandle, CircuitBreakerLayer, State, WindowConfig,
};
use buttress::core::layer::LayerBuilder;
use buttress::limit::{AdaptiveLimitHandle, AdaptiveLimitLayer, BulkheadHandle, BulkheadLayer};
use buttress::metrics::Health;
use buttress::metrics::names::{
    BREAKER_STATE, IN_FLIGHT, LABEL_LAYER, LABEL_STATE, LIMIT, MIN_RTT, QUEUE_DEPTH,
};
use http::{Request, Response};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use tokio::task::JoinSet;
use tower::{Layer, Service, ServiceExt, service_fn};

// ---------------------------------------------------------------------
// The sink, the recorder, and the layers built before the install.
// ---------------------------------------------------------------------

/// Keeps every gauge's last value (metrics-util's debugging recorder
/// drains gauges on each snapshot, which tests sharing it would race on).
struct GaugeRecorder {
    gauges: Registry<Key, AtomicStorage>,
}

impl Recorder for GaugeRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.gauges
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(gauge.clone()))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl GaugeRecorder {
    /// Every series of gauge `name` for the layer named `layer`: the value
    /// of its `buttress.state` label (empty without one) and its value.
    fn series(&self, name: &str, layer: &str) -> Vec<(String, f64)> {
        let mut series: Vec<(String, f64)> = self
            .gauges
            .get_gauge_handles()
            .into_iter()
            .filter(|(key, _)| {
                key.name() == name
                    && key
                        .labels()
                        .any(|l| l.key() == LABEL_LAYER && l.value() == layer)
            })
            .map(|(key, value)| {
                let state = key
                    .labels()
                    .find(|l| l.key() == LABEL_STATE)
                    .map_or(String::new(), |l| l.value().to_owned());
                (state, f64::from_bits(value.load(Ordering::Acquire)))
            })
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        series
    }

    /// The one series of gauge `name` for `layer`.
    fn gauge(&self, name: &str, layer: &str) -> f64 {
        match self.series(name, layer).as_slice() {
            [(_, value)] => *value,
            other => panic!("{name} of {layer}: {other:?}"),
        }
    }
}

struct Installed {
    health: Health,
    recorder: &'static GaugeRecorder,
    /// Layers built (and used) before the install, each taken by the one
    /// test that checks it.
    early_breaker: Mutex<Option<CircuitBreakerLayer>>,
    early_limit: Mutex<Option<EarlyLimit>>,
}

/// A call in flight, held by the test.
type Held = Pin<Box<dyn Future<Output = Result<Response<()>, buttress::BoxError>> + Send>>;

/// An adaptive limit built before the install, with calls still holding
/// its permits when the sink bound.
struct EarlyLimit {
    handle: AdaptiveLimitHandle,
    held: Vec<Held>,
}

const EARLY_BREAKER: &str = "hostile-gauges-early-breaker";
const EARLY_LIMIT: &str = "hostile-gauges-early-limit";
/// The early breaker's open wait, on the real clock (it was tripped
/// before any test runtime existed).
const EARLY_WAIT: Duration = Duration::from_millis(20);
const EARLY_HELD: usize = 3;

/// Installs the global metrics sink once, after building and using the
/// layers that must predate it.
fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let recorder: &'static GaugeRecorder = Box::leak(Box::new(GaugeRecorder {
            gauges: Registry::atomic(),
        }));
        // On a thread of its own: no test runtime's context, no paused
        // clock, whichever test (async or not) asks first.
        std::thread::spawn(move || {
            // Built and tripped before the install (nothing binds them yet).
            let breaker = breaker_layer(EARLY_BREAKER, EARLY_WAIT);
            let mut svc = breaker.layer(dependency());
            assert_eq!(
                ready(svc.call(Request::new(Answer::Status(500)))),
                Some(500)
            );
            assert_eq!(breaker.handle().state(), State::Open);

            // Used before the install: some calls done, some still out.
            let limit = limit_layer(EARLY_LIMIT);
            let mut svc = limit.layer(dependency());
            for _ in 0..10 {
                assert_eq!(
                    ready(svc.call(Request::new(Answer::Status(200)))),
                    Some(200)
                );
            }
            let held = (0..EARLY_HELD)
                .map(|_| Box::pin(svc.call(Request::new(Answer::Never))) as Pin<Box<_>>)
                .collect();
            let early_limit = EarlyLimit {
                handle: limit.handle(),
                held,
            };
            assert_eq!(early_limit.handle.in_flight(), EARLY_HELD);

            let health = metrics::with_local_recorder(recorder, buttress::metrics::install)
                .expect("the global telemetry sink is installed only by gauges::installed()");
            Installed {
                health,
                recorder,
                early_breaker: Mutex::new(Some(breaker)),
                early_limit: Mutex::new(Some(early_limit)),
            }
        })
        .join()
        .expect("install")
    })
}

/// Builds a layer against this module's recorder (a layer registers, and
/// resolves its metric handles, when it is built).
fn build<T>(build: impl FnOnce() -> T) -> T {
    metrics::with_local_recorder(installed().recorder, build)
}

// ---------------------------------------------------------------------
// The layers and a scripted dependency.
// ---------------------------------------------------------------------

/// What the dependency does with a request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Answers at once with this status.
    Status(u16),
    /// Answers with this status after this long.
    After(u16, Duration),
    /// Never answers.
    Never,
}

fn dependency()
-> impl Service<Request<Answer>, Response = Response<()>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    service_fn(|req: Request<Answer>| {
        let answer = *req.body();
        async move {
            let status = match answer {
                Answer::Status(status) => status,
                Answer::After(status, delay) => {
                    tokio::time::sleep(delay).await;
                    status
                }
                Answer::Never => std::future::pending().await,
            };
            Ok(Response::builder().status(status).body(()).unwrap())
        }
    })
}

fn breaker_layer(name: &str, wait: Duration) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 10 };
            c.minimum_calls = 1;
            c.failure_rate = 50.0;
            c.wait = wait;
            c.backoff = BackoffConfig {
                multiplier: 1.0,
                max_wait: wait,
                jitter: 0.0,
            };
            c.permitted_probes = 1;
        })
        .name(name)
        .build()
        .unwrap()
}

/// A fixed limit of 4 with a queue of 8: the gauges move only with calls.
fn limit_layer(name: &str) -> AdaptiveLimitLayer {
    AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 4;
            c.max_limit = 4;
            c.initial_limit = Some(4);
            c.queue_capacity = 8;
            c.max_wait = Duration::from_secs(5);
        })
        .name(name)
        .build()
        .unwrap()
}

/// Polls a future once, without a runtime: its output if it is ready.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Option<F::Output> {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The status of a call that answers at once; `None` if it was refused.
fn ready<E>(call: impl Future<Output = Result<Response<()>, E>>) -> Option<u16> {
    poll_once(pin!(call))
        .expect("answers at once")
        .ok()
        .map(|res| res.status().as_u16())
}

// ---------------------------------------------------------------------
// What must agree.
// ---------------------------------------------------------------------

/// The fields `/health/report` gives the layer named `name`.
fn health_fields(health: &Health, name: &str) -> String {
    let report = health.report_json();
    let at = report
        .find(&format!("\"name\":\"{name}\""))
        .unwrap_or_else(|| panic!("{name} not in {report}"));
    let end = report[at..].find('}').expect("a closed object");
    report[at..at + end].to_owned()
}

fn health_state(health: &Health, name: &str) -> Option<String> {
    let fields = health_fields(health, name);
    let (_, rest) = fields.split_once("\"state\":\"")?;
    Some(rest.split('"').next().unwrap().to_owned())
}

fn health_gauge(health: &Health, name: &str, gauge: &str) -> Option<f64> {
    let fields = health_fields(health, name);
    let (_, rest) = fields.split_once(&format!("\"{gauge}\":"))?;
    Some(rest.split(',').next().unwrap().parse().unwrap())
}

/// The breaker's state gauge reads 1 for its state and 0 for every other,
/// and `/health/report` names the same state.
fn assert_breaker_agrees(name: &str, handle: &CircuitBreakerHandle) {
    let installed = installed();
    let state = handle.state().as_str();
    let series = installed.recorder.series(BREAKER_STATE, name);
    assert_eq!(series.len(), State::ALL.len(), "{name}: {series:?}");
    for (label, value) in &series {
        let expected = if label == state { 1.0 } else { 0.0 };
        assert_eq!(*value, expected, "{name} is {state}: {series:?}");
    }
    assert_eq!(
        health_state(&installed.health, name).as_deref(),
        Some(state),
        "{name}: {}",
        installed.health.report_json()
    );
}

/// Every gauge of the adaptive limit, in metrics and `/health/report`,
/// reads what its handle reads.
fn assert_limit_agrees(name: &str, handle: &AdaptiveLimitHandle) {
    let installed = installed();
    let expected = [
        (LIMIT, "limit", handle.limit() as f64),
        (IN_FLIGHT, "in_flight", handle.in_flight() as f64),
        (QUEUE_DEPTH, "queue_depth", handle.queued() as f64),
        (MIN_RTT, "min_rtt_seconds", handle.min_rtt().as_secs_f64()),
    ];
    for (metric, field, value) in expected {
        assert_eq!(
            installed.recorder.gauge(metric, name),
            value,
            "{name}: {metric}"
        );
        assert_eq!(
            health_gauge(&installed.health, name, field),
            Some(value),
            "{name}: {}",
            installed.health.report_json()
        );
    }
}

/// The bulkhead's in-flight and queue-depth gauges read what its handle
/// reads.
fn assert_bulkhead_agrees(name: &str, handle: &BulkheadHandle) {
    let installed = installed();
    let expected = [
        (IN_FLIGHT, "in_flight", handle.in_flight() as f64),
        (QUEUE_DEPTH, "queue_depth", handle.queued() as f64),
    ];
    for (metric, field, value) in expected {
        assert_eq!(
            installed.recorder.gauge(metric, name),
            value,
            "{name}: {metric}"
        );
        assert_eq!(
            health_gauge(&installed.health, name, field),
            Some(value),
            "{name}: {}",
            installed.health.report_json()
        );
    }
}

// ---------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------

/// A breaker built and tripped before the install reads `open` once the
/// sink binds, then exactly its state through half-open and closed.
#[test]
fn a_breaker_tripped_before_install_reads_its_state_through_every_transition() {
    let installed = installed();
    let layer = installed
        .early_breaker
        .lock()
        .unwrap()
        .take()
        .expect("taken once");
    let handle = layer.handle();
    let mut svc = layer.layer(dependency());
    assert_eq!(handle.state(), State::Open);
    assert_breaker_agrees(EARLY_BREAKER, &handle);

    // The wait passes (real time: the breaker predates every runtime).
    std::thread::sleep(EARLY_WAIT + Duration::from_millis(5));
    let mut probe = Box::pin(svc.call(Request::new(Answer::Never)));
    assert!(
        poll_once(probe.as_mut()).is_none(),
        "the probe is in flight"
    );
    assert_eq!(handle.state(), State::HalfOpen);
    assert_breaker_agrees(EARLY_BREAKER, &handle);

    // A probe dropped unanswered decides nothing; the next one closes it.
    drop(probe);
    assert_eq!(
        ready(svc.call(Request::new(Answer::Status(200)))),
        Some(200)
    );
    assert_eq!(handle.state(), State::Closed);
    assert_breaker_agrees(EARLY_BREAKER, &handle);

    // And it trips again, by hand and by traffic.
    handle.force_open();
    assert_breaker_agrees(EARLY_BREAKER, &handle);
    handle.close();
    assert_breaker_agrees(EARLY_BREAKER, &handle);
    assert_eq!(
        ready(svc.call(Request::new(Answer::Status(503)))),
        Some(503)
    );
    assert_eq!(handle.state(), State::Open);
    assert_breaker_agrees(EARLY_BREAKER, &handle);
}

/// A breaker built after the install, on paused time: one state at 1,
/// the handle's, through every transition the breaker makes.
#[tokio::test(start_paused = true)]
async fn a_breaker_built_after_install_reads_its_state_through_every_transition() {
    const NAME: &str = "hostile-gauges-late-breaker";
    const WAIT: Duration = Duration::from_secs(1);
    let layer = build(|| breaker_layer(NAME, WAIT));
    let handle = layer.handle();
    let svc = layer.layer(dependency());
    let send = |answer| {
        let call = svc.clone().oneshot(Request::new(answer));
        async move { call.await.ok().map(|res| res.status().as_u16()) }
    };
    assert_breaker_agrees(NAME, &handle);

    let mut seen = vec![handle.state()];
    let mut check = |handle: &CircuitBreakerHandle| {
        assert_breaker_agrees(NAME, handle);
        seen.push(handle.state());
    };
    // closed → open
    assert_eq!(send(Answer::Status(500)).await, Some(500));
    check(&handle);
    // open → half-open, the probe fails: half-open → open
    tokio::time::sleep(WAIT).await;
    let probe = tokio::spawn(send(Answer::After(500, Duration::from_millis(10))));
    tokio::task::yield_now().await;
    check(&handle);
    assert_eq!(probe.await.unwrap(), Some(500));
    check(&handle);
    // open → half-open → closed
    tokio::time::sleep(WAIT * 2).await;
    assert_eq!(send(Answer::Status(200)).await, Some(200));
    check(&handle);
    // By hand: forced open, disabled, closed.
    handle.force_open();
    check(&handle);
    handle.disable();
    check(&handle);
    handle.close();
    check(&handle);
    assert_eq!(
        seen,
        [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::Open,
            State::Closed,
            State::ForcedOpen,
            State::Disabled,
            State::Closed,
        ]
    );
}

/// An adaptive limit with calls holding its permits when the sink bound:
/// its gauges read the held calls, and 0 once they are dropped.
#[test]
fn an_adaptive_limit_used_before_install_reads_its_gauges() {
    let early = installed()
        .early_limit
        .lock()
        .unwrap()
        .take()
        .expect("taken once");
    assert_eq!(early.handle.in_flight(), EARLY_HELD);
    assert_limit_agrees(EARLY_LIMIT, &early.handle);
    drop(early.held);
    assert_eq!(early.handle.in_flight(), 0);
    assert_limit_agrees(EARLY_LIMIT, &early.handle);
}

/// 1,000 calls cancelled — running, queued, and refused — after calls
/// that closed the limit's windows: every gauge reads what the handle
/// reads, during the storm and after it.
#[tokio::test(start_paused = true)]
async fn adaptive_limit_gauges_agree_after_a_thousand_cancelled_calls() {
    const NAME: &str = "hostile-gauges-storm-limit";
    let layer = build(|| limit_layer(NAME));
    let handle = layer.handle();
    let svc = layer.layer(dependency());
    assert_limit_agrees(NAME, &handle);

    // Enough completed calls that windows close (each sampled the gauges
    // while its own permit was still out).
    for _ in 0..200 {
        let call = svc
            .clone()
            .oneshot(Request::new(Answer::After(200, Duration::from_millis(5))));
        assert_eq!(call.await.unwrap().status(), 200);
    }
    assert_limit_agrees(NAME, &handle);

    let cancelled = storm(&svc, || {
        assert_eq!((handle.in_flight(), handle.queued()), (4, 8));
        assert_limit_agrees(NAME, &handle);
    })
    .await;
    assert!(cancelled >= 1_000);
    assert_eq!((handle.in_flight(), handle.queued()), (0, 0));
    assert_limit_agrees(NAME, &handle);
}

/// Cancels at least 1,000 calls through `svc`, 20 at a time (4 run, 8
/// queue, the rest are refused), each given up after 50 ms; calls
/// `mid_storm` while each batch is out. Returns how many were cancelled.
async fn storm<S>(svc: &S, mut mid_storm: impl FnMut()) -> usize
where
    S: Service<Request<Answer>, Response = Response<()>, Error = buttress::BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let mut cancelled = 0;
    while cancelled < 1_000 {
        let mut calls = JoinSet::new();
        for _ in 0..20 {
            let call = svc.clone().oneshot(Request::new(Answer::Never));
            calls.spawn(tokio::time::timeout(Duration::from_millis(50), call));
        }
        // Every call polled once: admitted, queued or refused.
        tokio::time::sleep(Duration::from_millis(1)).await;
        mid_storm();
        let before = cancelled;
        while let Some(result) = calls.join_next().await {
            if let Ok(Err(_elapsed)) = result.expect("no panic") {
                cancelled += 1;
            }
        }
        assert!(cancelled - before >= 4, "the running calls were cancelled");
    }
    cancelled
}

/// The same storm through a bulkhead built after the install.
#[tokio::test(start_paused = true)]
async fn bulkhead_gauges_agree_after_a_thousand_cancelled_calls() {
    const NAME: &str = "hostile-gauges-storm-bulkhead";
    let layer = build(|| {
        BulkheadLayer::builder()
            .configure(|c| {
                c.max_concurrent = 4;
                c.queue_capacity = 8;
                c.max_wait = Duration::from_secs(5);
            })
            .name(NAME)
            .build()
            .unwrap()
    });
    let handle = layer.handle();
    let svc = layer.layer(dependency());
    let cancelled = storm(&svc, || {
        assert_eq!((handle.in_flight(), handle.queued()), (4, 8));
        assert_bulkhead_agrees(NAME, &handle);
    })
    .await;
    assert!(cancelled >= 1_000);
    assert_eq!((handle.in_flight(), handle.queued()), (0, 0));
    assert_bulkhead_agrees(NAME, &handle);
}
