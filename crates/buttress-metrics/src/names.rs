//! Metric and label names, in OpenTelemetry's dotted form, and the table
//! of every metric ([`METRICS`]) that the crate docs, [`describe`] and the
//! tests share.
//!
//! Prometheus exporters render dots as underscores and, with recommended
//! naming, append the unit and `_total`
//! (`http.server.request.duration` → `http_server_request_duration_seconds`,
//! [`MetricSpec::prometheus_name`]).
//!
//! [`describe`]: crate::describe

/// Histogram (s): server request duration (OpenTelemetry, stable).
pub const HTTP_SERVER_DURATION: &str = "http.server.request.duration";
/// Histogram (s): client request duration (OpenTelemetry, stable).
pub const HTTP_CLIENT_DURATION: &str = "http.client.request.duration";
/// Gauge: server requests in flight (OpenTelemetry's UpDownCounter).
pub const HTTP_SERVER_ACTIVE: &str = "http.server.active_requests";
/// Gauge: client requests in flight (OpenTelemetry's UpDownCounter).
pub const HTTP_CLIENT_ACTIVE: &str = "http.client.active_requests";
/// Histogram (s): duration of a gRPC call a server answered
/// (OpenTelemetry RPC).
pub const RPC_SERVER_DURATION: &str = "rpc.server.call.duration";
/// Histogram (s): duration of a gRPC call a client made (OpenTelemetry
/// RPC).
pub const RPC_CLIENT_DURATION: &str = "rpc.client.call.duration";
/// Gauge: gRPC calls a server is answering now (OpenTelemetry defines
/// none for RPC, hence Buttress' namespace).
pub const RPC_SERVER_ACTIVE: &str = "buttress.rpc.server.active_calls";
/// Gauge: gRPC calls a client is making now.
pub const RPC_CLIENT_ACTIVE: &str = "buttress.rpc.client.active_calls";

/// Counter: calls a layer admitted.
pub const ADMITTED: &str = "buttress.admitted";
/// Counter: calls a layer saw end, by outcome.
pub const CALLS: &str = "buttress.calls";
/// Histogram (s): duration of the calls a layer admitted and timed.
pub const CALL_DURATION: &str = "buttress.call.duration";
/// Counter: calls a layer refused, by reason.
pub const REJECTIONS: &str = "buttress.rejections";
/// Gauge: 1 for a layer's current state (a breaker's, a shedder's
/// level), 0 for the others.
pub const STATE: &str = "buttress.state";
/// The same name as [`STATE`], under its former constant: breakers are
/// not the only layers with states.
pub const BREAKER_STATE: &str = STATE;
/// Counter: state transitions, by `from` and `to`.
pub const TRANSITIONS: &str = "buttress.transitions";
/// Counter: retries sent, by cause.
pub const RETRIES: &str = "buttress.retries";
/// Histogram (s): backoff before each retry.
pub const RETRY_BACKOFF: &str = "buttress.retry.backoff.duration";
/// Counter: retries wanted but refused by the retry budget.
pub const RETRY_BUDGET_EXHAUSTED: &str = "buttress.retry.budget_exhausted";
/// Counter: hedges sent (attempts beyond the first of a hedged request).
pub const HEDGES: &str = "buttress.hedges";
/// Counter: hedged requests answered by a hedge rather than the first
/// attempt.
pub const HEDGE_WINS: &str = "buttress.hedge.wins";
/// Counter: losing attempts dropped when a hedged request's answer came.
pub const HEDGE_CANCELLED: &str = "buttress.hedge.cancelled";
/// Histogram (s): time spent queueing before admission or refusal.
pub const QUEUE_WAIT: &str = "buttress.queue.duration";
/// Histogram (s): delays a fault-injection layer added.
pub const CHAOS_DELAY: &str = "buttress.chaos.delay.duration";
/// Gauge: a layer's current concurrency limit.
pub const LIMIT: &str = "buttress.limit";
/// Gauge: calls in flight through a layer.
pub const IN_FLIGHT: &str = "buttress.in_flight";
/// Gauge: calls waiting in a layer's queue.
pub const QUEUE_DEPTH: &str = "buttress.queue_depth";
/// Gauge (s): the smallest round-trip time an adaptive limit has seen.
pub const MIN_RTT: &str = "buttress.min_rtt";
/// Gauge: a probability (of throttling).
pub const PROBABILITY: &str = "buttress.probability";
/// Counter: fallback answers served, by cause.
pub const FALLBACKS: &str = "buttress.fallbacks";
/// Config reloads applied (a file or a handle's new settings taken).
pub const CONFIG_RELOADS: &str = "buttress.config.reloads";
/// Config reloads refused (an invalid file, or a change that needs a
/// restart): the old config stays in force.
pub const CONFIG_RELOAD_FAILURES: &str = "buttress.config.reload.failures";

/// Label: the kind of layer (`breaker`, `bulkhead`, …).
pub const LABEL_KIND: &str = "buttress.layer.kind";
/// Label: the layer's name (`name#2` for a second live layer of its kind
/// under a name already in use).
pub const LABEL_LAYER: &str = "buttress.layer";
/// Label: how a call ended: for a layer `success`, `failure`, `ignored`,
/// `cancelled`; for RED `success`, `failure`, `cancelled`, `rejected`,
/// `fallback`.
pub const LABEL_OUTCOME: &str = "buttress.outcome";
/// Label: a rejection's reason.
pub const LABEL_REASON: &str = "buttress.reason";
/// Label: a state.
pub const LABEL_STATE: &str = "buttress.state";
/// Label: the state a transition left.
pub const LABEL_FROM: &str = "buttress.from";
/// Label: the state a transition entered.
pub const LABEL_TO: &str = "buttress.to";
/// Label: why a fallback was served (`failure` or a reason), or why a
/// retry was sent.
pub const LABEL_CAUSE: &str = "buttress.cause";
/// Label: the RED layer's name (the server stack's, or the dependency's).
pub const LABEL_NAME: &str = "buttress.name";
/// Label (OpenTelemetry): the request method, `_OTHER` for non-standard.
pub const LABEL_METHOD: &str = "http.request.method";
/// Label (OpenTelemetry): the route template a server matched.
pub const LABEL_ROUTE: &str = "http.route";
/// Label (OpenTelemetry): the response status code, when one was sent.
pub const LABEL_STATUS: &str = "http.response.status_code";
/// Label (OpenTelemetry): `http` or `https`.
pub const LABEL_SCHEME: &str = "url.scheme";
/// Label (OpenTelemetry): a client call's path template, when known.
pub const LABEL_URL_TEMPLATE: &str = "url.template";
/// Label (OpenTelemetry): the class of error a call ended with; absent
/// when it succeeded.
pub const LABEL_ERROR_TYPE: &str = "error.type";
/// Label (OpenTelemetry): the host a client called.
pub const LABEL_SERVER_ADDRESS: &str = "server.address";
/// Label (OpenTelemetry): the port a client called.
pub const LABEL_SERVER_PORT: &str = "server.port";
/// Label (OpenTelemetry): the RPC system (`grpc`).
pub const LABEL_RPC_SYSTEM: &str = "rpc.system.name";
/// Label (OpenTelemetry): the RPC method, `package.Service/Method`, or
/// `_OTHER`.
pub const LABEL_RPC_METHOD: &str = "rpc.method";
/// Label (OpenTelemetry): the gRPC status code's name (`OK`,
/// `UNAVAILABLE`, …), when one was received or generated.
pub const LABEL_RPC_STATUS: &str = "rpc.response.status_code";

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down (OpenTelemetry's UpDownCounter or
    /// gauge).
    Gauge,
    /// A histogram, with explicit buckets ([`LATENCY_BUCKETS`](crate::LATENCY_BUCKETS)).
    Histogram,
}

impl Instrument {
    /// Prometheus' name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Instrument::Counter => "counter",
            Instrument::Gauge => "gauge",
            Instrument::Histogram => "histogram",
        }
    }
}

/// One metric: its name, instrument, unit, help text and every label it
/// may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// The name in code.
    pub name: &'static str,
    /// The instrument.
    pub instrument: Instrument,
    /// The unit, in UCUM as OpenTelemetry writes it (`s`, `{request}`).
    pub unit: &'static str,
    /// The help text.
    pub help: &'static str,
    /// Every label a series of it may carry.
    pub labels: &'static [&'static str],
}

impl MetricSpec {
    /// The name a Prometheus exporter with recommended naming gives it:
    /// dots as underscores, `_seconds` for a metric in seconds, `_total`
    /// for a counter.
    pub fn prometheus_name(&self) -> String {
        let mut name = self.name.replace('.', "_");
        if self.unit == "s" && !name.ends_with("_seconds") {
            name.push_str("_seconds");
        }
        if self.instrument == Instrument::Counter {
            name.push_str("_total");
        }
        name
    }
}

/// The labels every per-layer metric carries.
const LAYER: [&str; 2] = [LABEL_KIND, LABEL_LAYER];
const HTTP_SERVER_LABELS: &[&str] = &[
    LABEL_NAME,
    LABEL_METHOD,
    LABEL_SCHEME,
    LABEL_ROUTE,
    LABEL_STATUS,
    LABEL_ERROR_TYPE,
    LABEL_OUTCOME,
];
const HTTP_CLIENT_LABELS: &[&str] = &[
    LABEL_NAME,
    LABEL_METHOD,
    LABEL_SERVER_ADDRESS,
    LABEL_SERVER_PORT,
    LABEL_URL_TEMPLATE,
    LABEL_STATUS,
    LABEL_ERROR_TYPE,
    LABEL_OUTCOME,
];
const RPC_SERVER_LABELS: &[&str] = &[
    LABEL_NAME,
    LABEL_RPC_SYSTEM,
    LABEL_RPC_METHOD,
    LABEL_RPC_STATUS,
    LABEL_ERROR_TYPE,
    LABEL_OUTCOME,
];
const RPC_CLIENT_LABELS: &[&str] = &[
    LABEL_NAME,
    LABEL_RPC_SYSTEM,
    LABEL_RPC_METHOD,
    LABEL_SERVER_ADDRESS,
    LABEL_SERVER_PORT,
    LABEL_RPC_STATUS,
    LABEL_ERROR_TYPE,
    LABEL_OUTCOME,
];

const fn spec(
    name: &'static str,
    instrument: Instrument,
    unit: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricSpec {
    MetricSpec {
        name,
        instrument,
        unit,
        help,
        labels,
    }
}

use Instrument::{Counter, Gauge, Histogram};

/// Every metric Buttress records, and every label each may carry: the
/// table in the crate docs, row for row (a test holds them to each other).
pub const METRICS: &[MetricSpec] = &[
    spec(
        HTTP_SERVER_DURATION,
        Histogram,
        "s",
        "Duration of HTTP server requests.",
        HTTP_SERVER_LABELS,
    ),
    spec(
        HTTP_SERVER_ACTIVE,
        Gauge,
        "{request}",
        "Number of active HTTP server requests.",
        &[LABEL_NAME, LABEL_METHOD, LABEL_SCHEME],
    ),
    spec(
        HTTP_CLIENT_DURATION,
        Histogram,
        "s",
        "Duration of HTTP client requests.",
        HTTP_CLIENT_LABELS,
    ),
    spec(
        HTTP_CLIENT_ACTIVE,
        Gauge,
        "{request}",
        "Number of active HTTP client requests.",
        &[
            LABEL_NAME,
            LABEL_METHOD,
            LABEL_SERVER_ADDRESS,
            LABEL_SERVER_PORT,
        ],
    ),
    spec(
        RPC_SERVER_DURATION,
        Histogram,
        "s",
        "Duration of incoming gRPC calls.",
        RPC_SERVER_LABELS,
    ),
    spec(
        RPC_SERVER_ACTIVE,
        Gauge,
        "{call}",
        "Number of incoming gRPC calls in progress.",
        &[LABEL_NAME, LABEL_RPC_SYSTEM],
    ),
    spec(
        RPC_CLIENT_DURATION,
        Histogram,
        "s",
        "Duration of outgoing gRPC calls.",
        RPC_CLIENT_LABELS,
    ),
    spec(
        RPC_CLIENT_ACTIVE,
        Gauge,
        "{call}",
        "Number of outgoing gRPC calls in progress.",
        &[
            LABEL_NAME,
            LABEL_RPC_SYSTEM,
            LABEL_SERVER_ADDRESS,
            LABEL_SERVER_PORT,
        ],
    ),
    spec(
        ADMITTED,
        Counter,
        "{call}",
        "Calls a Buttress layer admitted.",
        &LAYER,
    ),
    spec(
        CALLS,
        Counter,
        "{call}",
        "Calls a Buttress layer saw end, by outcome.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_OUTCOME],
    ),
    spec(
        CALL_DURATION,
        Histogram,
        "s",
        "Duration of the calls a Buttress layer admitted and timed.",
        &LAYER,
    ),
    spec(
        REJECTIONS,
        Counter,
        "{call}",
        "Calls a Buttress layer refused, by reason.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_REASON],
    ),
    spec(
        STATE,
        Gauge,
        "1",
        "1 for a Buttress layer's current state, 0 for the others it has been in.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_STATE],
    ),
    spec(
        TRANSITIONS,
        Counter,
        "{transition}",
        "State transitions of a Buttress layer.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_FROM, LABEL_TO],
    ),
    spec(
        RETRIES,
        Counter,
        "{retry}",
        "Retries sent, by what the failed attempt ended with.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_CAUSE],
    ),
    spec(
        RETRY_BACKOFF,
        Histogram,
        "s",
        "Backoff before each retry.",
        &LAYER,
    ),
    spec(
        RETRY_BUDGET_EXHAUSTED,
        Counter,
        "{retry}",
        "Retries refused by the retry budget.",
        &LAYER,
    ),
    spec(HEDGES, Counter, "{attempt}", "Hedges sent.", &LAYER),
    spec(
        HEDGE_WINS,
        Counter,
        "{request}",
        "Hedged requests answered by a hedge.",
        &LAYER,
    ),
    spec(
        HEDGE_CANCELLED,
        Counter,
        "{attempt}",
        "Losing attempts dropped when the answer came.",
        &LAYER,
    ),
    spec(
        QUEUE_WAIT,
        Histogram,
        "s",
        "Time spent queueing before admission or refusal.",
        &LAYER,
    ),
    spec(
        CHAOS_DELAY,
        Histogram,
        "s",
        "Delays a fault-injection layer added.",
        &LAYER,
    ),
    spec(
        LIMIT,
        Gauge,
        "{call}",
        "A Buttress layer's current concurrency limit.",
        &LAYER,
    ),
    spec(
        IN_FLIGHT,
        Gauge,
        "{call}",
        "Calls in flight through a Buttress layer.",
        &LAYER,
    ),
    spec(
        QUEUE_DEPTH,
        Gauge,
        "{call}",
        "Calls waiting in a Buttress layer's queue.",
        &LAYER,
    ),
    spec(
        MIN_RTT,
        Gauge,
        "s",
        "Smallest round-trip time an adaptive limit has seen.",
        &LAYER,
    ),
    spec(
        PROBABILITY,
        Gauge,
        "1",
        "Probability that a throttle refuses a call.",
        &LAYER,
    ),
    spec(
        FALLBACKS,
        Counter,
        "{answer}",
        "Fallback answers served, by cause.",
        &[LABEL_KIND, LABEL_LAYER, LABEL_CAUSE],
    ),
    spec(
        CONFIG_RELOADS,
        Counter,
        "{reload}",
        "Config reloads applied.",
        &[],
    ),
    spec(
        CONFIG_RELOAD_FAILURES,
        Counter,
        "{reload}",
        "Config reloads refused; the config in force did not change.",
        &[],
    ),
];

/// The row of `name` in [`METRICS`].
pub fn spec_of(name: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|spec| spec.name == name)
}
