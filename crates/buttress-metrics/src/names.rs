//! Metric and label names, in OpenTelemetry's dotted form. Prometheus
//! exporters render dots as underscores and may append the unit
//! (`http.server.request.duration` → `http_server_request_duration_seconds`).

/// Histogram (seconds): server request duration, RED.
pub const HTTP_SERVER_DURATION: &str = "http.server.request.duration";
/// Histogram (seconds): client request duration, RED.
pub const HTTP_CLIENT_DURATION: &str = "http.client.request.duration";
/// Gauge: server requests in flight.
pub const HTTP_SERVER_ACTIVE: &str = "http.server.active_requests";
/// Gauge: client requests in flight.
pub const HTTP_CLIENT_ACTIVE: &str = "http.client.active_requests";
/// Counter: server requests answered.
pub const HTTP_SERVER_REQUESTS: &str = "buttress.http.server.requests";
/// Counter: server requests that failed or were rejected.
pub const HTTP_SERVER_ERRORS: &str = "buttress.http.server.errors";
/// Counter: client requests answered.
pub const HTTP_CLIENT_REQUESTS: &str = "buttress.http.client.requests";
/// Counter: client requests that failed or were rejected.
pub const HTTP_CLIENT_ERRORS: &str = "buttress.http.client.errors";

/// Counter: calls a layer admitted.
pub const ADMITTED: &str = "buttress.admitted";
/// Counter: calls a layer saw end, by outcome.
pub const CALLS: &str = "buttress.calls";
/// Histogram (seconds): duration of the calls a layer admitted.
pub const CALL_DURATION: &str = "buttress.call.duration";
/// Counter: calls a layer refused, by reason.
pub const REJECTIONS: &str = "buttress.rejections";
/// Gauge: 1 for a breaker's current state, 0 for the others.
pub const BREAKER_STATE: &str = "buttress.breaker.state";
/// Counter: state transitions, by `from` and `to`.
pub const TRANSITIONS: &str = "buttress.transitions";
/// Counter: retries sent.
pub const RETRIES: &str = "buttress.retries";
/// Histogram (seconds): backoff before each retry.
pub const RETRY_BACKOFF: &str = "buttress.retry.backoff";
/// Counter: retries wanted but refused by the retry budget.
pub const RETRY_BUDGET_EXHAUSTED: &str = "buttress.retry.budget_exhausted";
/// Histogram (seconds): time spent queueing before admission or refusal.
pub const QUEUE_WAIT: &str = "buttress.queue.wait";
/// Gauge: a layer's current concurrency or rate limit.
pub const LIMIT: &str = "buttress.limit";
/// Gauge: calls in flight through a layer.
pub const IN_FLIGHT: &str = "buttress.in_flight";
/// Gauge: calls waiting in a layer's queue.
pub const QUEUE_DEPTH: &str = "buttress.queue_depth";
/// Gauge (seconds): the smallest round-trip time an adaptive limit has seen.
pub const MIN_RTT: &str = "buttress.min_rtt";
/// Gauge: a probability (of throttling, of shedding).
pub const PROBABILITY: &str = "buttress.probability";
/// Counter: fallback answers served, by cause.
pub const FALLBACKS: &str = "buttress.fallbacks";

/// Label: the kind of layer (`breaker`, `bulkhead`, …).
pub const LABEL_KIND: &str = "buttress.layer.kind";
/// Label: the layer's name.
pub const LABEL_LAYER: &str = "buttress.layer";
/// Label: how a call ended (`success`, `failure`, `ignored`,
/// `cancelled`, `rejected`).
pub const LABEL_OUTCOME: &str = "buttress.outcome";
/// Label: a rejection's reason (`none` when not rejected).
pub const LABEL_REASON: &str = "buttress.reason";
/// Label: a breaker state.
pub const LABEL_STATE: &str = "buttress.state";
/// Label: the state a transition left.
pub const LABEL_FROM: &str = "buttress.from";
/// Label: the state a transition entered.
pub const LABEL_TO: &str = "buttress.to";
/// Label: why a fallback was served (`failure` or a reason), or why a
/// retry was sent.
pub const LABEL_CAUSE: &str = "buttress.cause";
/// Label: the server stack's or client dependency's name.
pub const LABEL_NAME: &str = "buttress.name";
/// Label (OpenTelemetry): the request method, `_OTHER` for non-standard.
pub const LABEL_METHOD: &str = "http.request.method";
/// Label (OpenTelemetry): the route template.
pub const LABEL_ROUTE: &str = "http.route";
/// Label: the response status class (`2xx` … `5xx`, `none` without one).
pub const LABEL_STATUS_CLASS: &str = "http.response.status_class";
