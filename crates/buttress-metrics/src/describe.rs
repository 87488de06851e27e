//! Descriptions and units of every metric, for exporters that render
//! them (`# HELP` lines, Prometheus unit suffixes).

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use crate::names::*;

/// Describes every Buttress metric to the installed `metrics` recorder:
/// its help text and unit. [`install`](crate::install) calls it; call it
/// yourself after installing a recorder if you give layers their own
/// [`MetricsSink`](crate::MetricsSink) instead.
pub fn describe() {
    describe_histogram!(
        HTTP_SERVER_DURATION,
        Unit::Seconds,
        "Duration of HTTP server requests."
    );
    describe_histogram!(
        HTTP_CLIENT_DURATION,
        Unit::Seconds,
        "Duration of HTTP client requests."
    );
    describe_gauge!(HTTP_SERVER_ACTIVE, "HTTP server requests in flight.");
    describe_gauge!(HTTP_CLIENT_ACTIVE, "HTTP client requests in flight.");
    describe_counter!(HTTP_SERVER_REQUESTS, "HTTP server requests answered.");
    describe_counter!(
        HTTP_SERVER_ERRORS,
        "HTTP server requests that failed or were rejected."
    );
    describe_counter!(HTTP_CLIENT_REQUESTS, "HTTP client requests answered.");
    describe_counter!(
        HTTP_CLIENT_ERRORS,
        "HTTP client requests that failed or were rejected."
    );
    describe_counter!(ADMITTED, "Calls a Buttress layer admitted.");
    describe_counter!(CALLS, "Calls a Buttress layer saw end, by outcome.");
    describe_histogram!(
        CALL_DURATION,
        Unit::Seconds,
        "Duration of the calls a Buttress layer timed."
    );
    describe_counter!(REJECTIONS, "Calls a Buttress layer refused, by reason.");
    describe_gauge!(
        BREAKER_STATE,
        "1 for a circuit breaker's current state, 0 for the others."
    );
    describe_counter!(TRANSITIONS, "State transitions of a Buttress layer.");
    describe_counter!(RETRIES, "Retries sent.");
    describe_histogram!(RETRY_BACKOFF, Unit::Seconds, "Backoff before each retry.");
    describe_counter!(
        RETRY_BUDGET_EXHAUSTED,
        "Retries refused by the retry budget."
    );
    describe_histogram!(
        QUEUE_WAIT,
        Unit::Seconds,
        "Time spent queueing before admission or refusal."
    );
    describe_gauge!(LIMIT, "A layer's current concurrency or rate limit.");
    describe_gauge!(IN_FLIGHT, "Calls in flight through a layer.");
    describe_gauge!(QUEUE_DEPTH, "Calls waiting in a layer's queue.");
    describe_gauge!(
        MIN_RTT,
        Unit::Seconds,
        "Smallest round-trip time an adaptive limit has seen."
    );
    describe_gauge!(PROBABILITY, "A probability of throttling or shedding.");
    describe_counter!(FALLBACKS, "Fallback answers served, by cause.");
}

/// Histogram buckets (seconds) that suit request latencies from 1 ms to
/// 10 s; give them to your exporter (Prometheus renders histograms without
/// buckets as summaries).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
