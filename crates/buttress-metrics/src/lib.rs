//! The shared metrics layer of Buttress: every decision of every layer,
//! visible under names operators and dashboards already know.
//!
//! - [`install`] makes a [`MetricsSink`] the process-wide telemetry sink:
//!   every Buttress layer, built before or after, reports through it to
//!   the `metrics` facade (so any recorder — Prometheus, OpenTelemetry,
//!   StatsD — receives it) and to `tracing`.
//! - [`RedLayer`] records RED metrics for a server stack or a client
//!   dependency, with bounded labels. Its settings are data, a
//!   [`RedConfig`] (loadable from TOML); its
//!   builder adds only what is code, the [`RouteSource`].
//! - [`Health`] answers `/health/live` and `/health/ready` and reports
//!   every layer's state as JSON.
//!
//! # Metrics
//!
//! Requests and calls follow OpenTelemetry's semantic conventions,
//! **version 1.44.0**: the stable HTTP metrics
//! ([http-metrics.md](https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/http/http-metrics.md))
//! and the RPC metrics with their gRPC attributes
//! ([rpc-metrics.md](https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/rpc/rpc-metrics.md),
//! [grpc.md](https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/rpc/grpc.md)):
//! their names, units (seconds) and attributes. A gRPC call is recorded
//! as an RPC, never as an HTTP `POST`. What Buttress adds is in its own
//! namespace (`buttress.*`).
//!
//! Names are OpenTelemetry's dotted form in code; a Prometheus exporter
//! replaces dots with underscores and, with its recommended naming on
//! (`PrometheusBuilder::with_recommended_naming(true)`), appends `_total`
//! to counters and `_seconds` to what [`describe`] gives that unit. Every
//! histogram is in seconds and named `…duration`: one bucket rule,
//! `Matcher::Suffix("duration")` with [`LATENCY_BUCKETS`] (OpenTelemetry's
//! advice), makes them all true histograms. The table is
//! [`names::METRICS`], row for row.
//!
//! | name in code | Prometheus | type | unit | labels |
//! | --- | --- | --- | --- | --- |
//! | `http.server.request.duration` | `http_server_request_duration_seconds` | histogram | `s` | `buttress.name`, `http.request.method`, `url.scheme`, `http.route`, `http.response.status_code`, `error.type`, `buttress.outcome` |
//! | `http.server.active_requests` | `http_server_active_requests` | gauge | `{request}` | `buttress.name`, `http.request.method`, `url.scheme` |
//! | `http.client.request.duration` | `http_client_request_duration_seconds` | histogram | `s` | `buttress.name`, `http.request.method`, `server.address`, `server.port`, `url.template`, `http.response.status_code`, `error.type`, `buttress.outcome` |
//! | `http.client.active_requests` | `http_client_active_requests` | gauge | `{request}` | `buttress.name`, `http.request.method`, `server.address`, `server.port` |
//! | `rpc.server.call.duration` | `rpc_server_call_duration_seconds` | histogram | `s` | `buttress.name`, `rpc.system.name`, `rpc.method`, `rpc.response.status_code`, `error.type`, `buttress.outcome` |
//! | `buttress.rpc.server.active_calls` | `buttress_rpc_server_active_calls` | gauge | `{call}` | `buttress.name`, `rpc.system.name` |
//! | `rpc.client.call.duration` | `rpc_client_call_duration_seconds` | histogram | `s` | `buttress.name`, `rpc.system.name`, `rpc.method`, `server.address`, `server.port`, `rpc.response.status_code`, `error.type`, `buttress.outcome` |
//! | `buttress.rpc.client.active_calls` | `buttress_rpc_client_active_calls` | gauge | `{call}` | `buttress.name`, `rpc.system.name`, `server.address`, `server.port` |
//! | `buttress.admitted` | `buttress_admitted_total` | counter | `{call}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.calls` | `buttress_calls_total` | counter | `{call}` | `buttress.layer.kind`, `buttress.layer`, `buttress.outcome` |
//! | `buttress.call.duration` | `buttress_call_duration_seconds` | histogram | `s` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.rejections` | `buttress_rejections_total` | counter | `{call}` | `buttress.layer.kind`, `buttress.layer`, `buttress.reason` |
//! | `buttress.state` | `buttress_state` | gauge | `1` | `buttress.layer.kind`, `buttress.layer`, `buttress.state` |
//! | `buttress.transitions` | `buttress_transitions_total` | counter | `{transition}` | `buttress.layer.kind`, `buttress.layer`, `buttress.from`, `buttress.to` |
//! | `buttress.retries` | `buttress_retries_total` | counter | `{retry}` | `buttress.layer.kind`, `buttress.layer`, `buttress.cause` |
//! | `buttress.retry.backoff.duration` | `buttress_retry_backoff_duration_seconds` | histogram | `s` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.retry.budget_exhausted` | `buttress_retry_budget_exhausted_total` | counter | `{retry}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.hedges` | `buttress_hedges_total` | counter | `{attempt}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.hedge.wins` | `buttress_hedge_wins_total` | counter | `{request}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.hedge.cancelled` | `buttress_hedge_cancelled_total` | counter | `{attempt}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.queue.duration` | `buttress_queue_duration_seconds` | histogram | `s` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.chaos.delay.duration` | `buttress_chaos_delay_duration_seconds` | histogram | `s` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.limit` | `buttress_limit` | gauge | `{call}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.in_flight` | `buttress_in_flight` | gauge | `{call}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.queue_depth` | `buttress_queue_depth` | gauge | `{call}` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.min_rtt` | `buttress_min_rtt_seconds` | gauge | `s` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.probability` | `buttress_probability` | gauge | `1` | `buttress.layer.kind`, `buttress.layer` |
//! | `buttress.fallbacks` | `buttress_fallbacks_total` | counter | `{answer}` | `buttress.layer.kind`, `buttress.layer`, `buttress.cause` |
//! | `buttress.config.reloads` | `buttress_config_reloads_total` | counter | `{reload}` | |
//! | `buttress.config.reload.failures` | `buttress_config_reload_failures_total` | counter | `{reload}` | |
//!
//! Label values, each from a bounded set:
//!
//! | label | values |
//! | --- | --- |
//! | `http.request.method` | `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS`, `CONNECT`, `TRACE`, `QUERY`, `_OTHER` |
//! | `url.scheme` | `http`, `https` (the request URI's; `http` when it has none) |
//! | `http.route` | the router's template (axum's `MatchedPath`) or a [`RouteSource`]'s value, at most [`RedConfig::route_cap`] of them, else `_OTHER` |
//! | `url.template` | a client's [`RouteSource`] value, when it has one (capped likewise) |
//! | `http.response.status_code` | the status sent or received, 100–599; absent when there was none |
//! | `rpc.system.name` | `grpc` |
//! | `rpc.method` | `package.Service/Method`, once a call to it was answered with something other than `UNIMPLEMENTED` or a rejection; capped like routes, else `_OTHER` |
//! | `rpc.response.status_code` | the gRPC code's name (`OK`, `UNAVAILABLE`, …), from the trailers or head; absent when none arrived |
//! | `server.address`, `server.port` | on a client, the host and port the request's URI (else `Host`) names, the port defaulting to the scheme's; at most [`RedConfig::server_cap`] pairs, else `server.address="_OTHER"` |
//! | `error.type` | absent on success; a Buttress rejection's reason (`circuit_open`, `rate_limited`, …); `cancelled`; the status when it is an error (HTTP: `500`–`599` on a server, `400`–`599` on a client; gRPC: `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS` on a server, every code but `OK` on a client); else `_OTHER` |
//! | `buttress.outcome` | RED: `success`, `failure`, `cancelled`, `rejected`, `fallback` (a fallback layer answered); a layer's calls: `success`, `failure`, `ignored`, `cancelled` |
//! | `buttress.name` | the RED layer's name; `name#2` for a second live layer of its side under a name in use |
//! | `buttress.layer.kind` | `breaker`, `bulkhead`, `adaptive_limit`, `shed`, `throttle`, `rate_limit`, `retry`, `timeout`, `fallback`, `chaos`, `context` |
//! | `buttress.layer` | the layer's name; `name#2` for a second live layer of its kind under a name in use |
//! | `buttress.reason` | the kind's reasons (below) |
//! | `buttress.state`, `buttress.from`, `buttress.to` | a breaker's `closed`, `open`, `half_open`, `forced_open`, `disabled`; a shedder's levels `none`, `sheddable`, `sheddable_plus`, `critical`, `critical_plus` |
//! | `buttress.cause` | retries: `status`, `grpc`, `transport`, `timeout`, `local_rejection`; fallbacks: `failure` or a reason |
//!
//! Only the series a layer can emit exist. The counters and gauges of a
//! layer's kind ([`LayerKind::emits`](buttress_core::telemetry::LayerKind::emits))
//! are registered when it registers, at zero; histograms, transitions
//! and RED's series appear with their first sample:
//!
//! | kind | counters and gauges |
//! | --- | --- |
//! | `breaker` | admitted, calls, rejections (`circuit_open`), state |
//! | `bulkhead` | admitted, calls, rejections (`bulkhead_full`, `queue_timeout`), in flight, queue depth |
//! | `adaptive_limit` | admitted, calls, rejections (`overloaded`, `queue_timeout`), limit, in flight, queue depth, min RTT |
//! | `shed` | admitted, rejections (`shed`), state (level), in flight |
//! | `throttle` | admitted, rejections (`throttled`), probability |
//! | `rate_limit` | admitted, rejections (`rate_limited`) |
//! | `retry` | admitted, retries by cause, budget exhausted |
//! | `timeout` | rejections (`timeout`, `deadline_exceeded`) |
//! | `fallback` | fallbacks by cause |
//! | `chaos` | rejections (`fault_injected`) |
//! | `context` | rejections (`deadline_exceeded`) |
//!
//! Reconciliation: for each layer that admits, requests seen =
//! `buttress.admitted` + Σ `buttress.rejections`; for each that reports
//! calls (breaker, bulkhead, adaptive limit), `buttress.admitted` =
//! Σ `buttress.calls` over outcomes (`success`, `failure`, `ignored`,
//! `cancelled`). A RED layer's requests are its duration histogram's
//! count, over every outcome.
#![forbid(unsafe_code)]

mod describe;
mod events;
mod health;
pub mod names;
mod red;
mod reload;
mod reporter;
mod sink;

pub use self::describe::{LATENCY_BUCKETS, describe};
pub use self::events::{
    EVENT_BUFFER, EventFeed, FeedItem, LayerEvent, LayerEventKind, REJECTION_SUMMARY,
};
pub use self::health::{Health, HealthService, json_string};
pub use self::red::{
    HeadFuture, Red, RedBody, RedConfig, RedHandle, RedHead, RedHeadLayer, RedLayer,
    RedLayerBuilder, RedRecord, RedSide, ResponseFuture, RouteSource,
};
pub use self::reload::record_reload;
pub use self::sink::{MetricsSink, install};

#[cfg(test)]
mod docs_table;
