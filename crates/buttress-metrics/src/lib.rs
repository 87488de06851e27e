//! The shared metrics layer of Buttress: every decision of every layer,
//! visible under names operators already know.
//!
//! - [`install`] makes a [`MetricsSink`] the process-wide telemetry sink:
//!   every Buttress layer, built before or after, reports through it to
//!   the `metrics` facade (so any recorder — Prometheus, OpenTelemetry,
//!   StatsD — receives it) and to `tracing`.
//! - [`RedLayer`] records RED metrics for a server stack or a client
//!   dependency, with bounded labels. Its settings are data, a
//!   [`RedConfig`] (loadable from TOML with the `serde` feature); its
//!   builder adds only what is code, the [`RouteSource`].
//! - [`Health`] answers `/health/live` and `/health/ready` and reports
//!   every layer's state as JSON.
//!
//! # Metrics
//!
//! Names are OpenTelemetry-style in code; a Prometheus exporter replaces
//! dots with underscores and, with its recommended naming on
//! (`PrometheusBuilder::with_recommended_naming(true)`), appends `_total`
//! to counters and the unit (`_seconds`) to what [`describe`] gives one.
//!
//! | name in code | Prometheus | type | unit | labels |
//! | --- | --- | --- | --- | --- |
//! | `http.server.request.duration` | `http_server_request_duration_seconds` | histogram | s | `buttress.name`, `http.request.method`, `http.route`, `http.response.status_class`, `buttress.outcome`, `buttress.reason` |
//! | `http.client.request.duration` | `http_client_request_duration_seconds` | histogram | s | as above |
//! | `buttress.http.server.requests` | `buttress_http_server_requests_total` | counter | | as above |
//! | `buttress.http.server.errors` | `buttress_http_server_errors_total` | counter | | as above (outcome ≠ success) |
//! | `buttress.http.client.requests` | `buttress_http_client_requests_total` | counter | | as above |
//! | `buttress.http.client.errors` | `buttress_http_client_errors_total` | counter | | as above |
//! | `http.server.active_requests` | `http_server_active_requests` | gauge | | `buttress.name` |
//! | `http.client.active_requests` | `http_client_active_requests` | gauge | | `buttress.name` |
//! | `buttress.admitted` | `buttress_admitted_total` | counter | | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.calls` | `buttress_calls_total` | counter | | kind, layer, `buttress.outcome` |
//! | `buttress.call.duration` | `buttress_call_duration_seconds` | histogram | s | kind, layer |
//! | `buttress.rejections` | `buttress_rejections_total` | counter | | kind, layer, `buttress.reason` |
//! | `buttress.breaker.state` | `buttress_breaker_state` | gauge (1 for the current state) | | kind, layer, `buttress.state` |
//! | `buttress.transitions` | `buttress_transitions_total` | counter | | kind, layer, `buttress.from`, `buttress.to` |
//! | `buttress.retries` | `buttress_retries_total` | counter | | kind, layer, `buttress.cause` (`status`, `grpc`, `transport`, `timeout`, `local_rejection`) |
//! | `buttress.retry.backoff` | `buttress_retry_backoff_seconds` | histogram | s | kind, layer |
//! | `buttress.retry.budget_exhausted` | `buttress_retry_budget_exhausted_total` | counter | | kind, layer |
//! | `buttress.queue.wait` | `buttress_queue_wait_seconds` | histogram | s | kind, layer |
//! | `buttress.limit` | `buttress_limit` | gauge | | kind, layer |
//! | `buttress.in_flight` | `buttress_in_flight` | gauge | | kind, layer |
//! | `buttress.queue_depth` | `buttress_queue_depth` | gauge | | kind, layer |
//! | `buttress.min_rtt` | `buttress_min_rtt_seconds` | gauge | s | kind, layer |
//! | `buttress.probability` | `buttress_probability` | gauge | | kind, layer |
//! | `buttress.fallbacks` | `buttress_fallbacks_total` | counter | | kind, layer, `buttress.cause` |
//!
//! Reconciliation: for each layer, requests seen = `buttress.admitted` +
//! Σ `buttress.rejections`, and `buttress.admitted` = Σ `buttress.calls`
//! over outcomes (`success`, `failure`, `ignored`, `cancelled`).
#![forbid(unsafe_code)]

mod describe;
mod health;
pub mod names;
mod red;
mod reporter;
mod sink;

pub use self::describe::{LATENCY_BUCKETS, describe};
pub use self::health::{Health, HealthService};
pub use self::red::{
    HeadFuture, OptionalRedLayer, Red, RedBody, RedConfig, RedHandle, RedHead, RedHeadLayer,
    RedLayer, RedLayerBuilder, RedSide, ResponseFuture, RouteSource,
};
pub use self::sink::{MetricsSink, install};
