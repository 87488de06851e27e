//! A bridge to the `opentelemetry` propagator API (feature
//! `opentelemetry`).
//!
//! Services that already run an OpenTelemetry tracer can keep it and still
//! get this crate's strict parsing: [`StrictTraceContextPropagator`] is a
//! `TextMapPropagator` that reads and writes `traceparent`/`tracestate`
//! with the same rules as the layers (version `ff`, zero IDs, upper-case
//! hex refused, reserved flag bits zeroed; `tracestate` refused beyond 32
//! members, cut to 512 characters).
//! [`to_span_context`] and [`from_span_context`] convert between core's
//! [`TraceContext`] and OpenTelemetry's `SpanContext`.
//!
//! ```
//! use buttress_context::otel::{HeaderExtractor, StrictTraceContextPropagator};
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::TraceContextExt;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let cx = StrictTraceContextPropagator::new().extract(&HeaderExtractor(&headers));
//! assert!(cx.span().span_context().is_remote());
//! assert!(cx.span().span_context().is_sampled());
//! ```

use std::str::FromStr;

use buttress_core::context::TraceContext;
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use crate::headers::{TRACEPARENT, TRACESTATE};
use crate::trace::{parse_traceparent, traceparent_value, tracestate};

/// OpenTelemetry's view of `trace`, as a remote span context.
pub fn to_span_context(trace: &TraceContext) -> SpanContext {
    let state = trace
        .state()
        .and_then(|state| state.to_str().ok())
        .and_then(|state| TraceState::from_str(state).ok())
        .unwrap_or_default();
    SpanContext::new(
        TraceId::from_bytes(trace.trace_id()),
        SpanId::from_bytes(trace.parent_id()),
        TraceFlags::new(trace.flags()),
        true,
        state,
    )
}

/// Core's view of an OpenTelemetry span context, `None` if it is invalid.
/// The span ID becomes the parent ID of calls made under it.
pub fn from_span_context(span: &SpanContext) -> Option<TraceContext> {
    if !span.is_valid() {
        return None;
    }
    let trace = TraceContext::new(
        span.trace_id().to_bytes(),
        span.span_id().to_bytes(),
        span.trace_flags().to_u8(),
    );
    let state = span.trace_state().header();
    let state = HeaderValue::from_str(&state).ok();
    match state.as_ref().and_then(|state| tracestate::limit([state])) {
        Some(state) => Some(trace.with_state(state)),
        None => Some(trace),
    }
}

/// Reads an `http::HeaderMap` for a propagator.
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// Writes into an `http::HeaderMap` for a propagator; invalid names or
/// values are skipped.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// A W3C Trace Context propagator with this crate's strict rules.
#[derive(Debug)]
pub struct StrictTraceContextPropagator {
    fields: [String; 2],
}

impl StrictTraceContextPropagator {
    /// A propagator.
    pub fn new() -> Self {
        StrictTraceContextPropagator {
            fields: [
                TRACEPARENT.as_str().to_owned(),
                TRACESTATE.as_str().to_owned(),
            ],
        }
    }
}

impl Default for StrictTraceContextPropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl TextMapPropagator for StrictTraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span = span.span_context();
        if !span.is_valid() {
            return;
        }
        let parent = traceparent_value(
            span.trace_id().to_bytes(),
            span.span_id().to_bytes(),
            span.trace_flags().to_u8(),
        );
        injector.set(
            TRACEPARENT.as_str(),
            parent.to_str().unwrap_or_default().to_owned(),
        );
        let state = span.trace_state().header();
        if !state.is_empty() {
            injector.set(TRACESTATE.as_str(), state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(parent) = extractor.get(TRACEPARENT.as_str()) else {
            return cx.clone();
        };
        let Ok(trace) = parse_traceparent(parent.as_bytes()) else {
            return cx.clone();
        };
        let states: Vec<HeaderValue> = extractor
            .get_all(TRACESTATE.as_str())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|state| HeaderValue::from_str(state).ok())
            .collect();
        let trace = match tracestate::limit(&states) {
            Some(state) => trace.with_state(state),
            None => trace,
        };
        cx.with_remote_span_context(to_span_context(&trace))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rules_apply_and_round_trip() {
        let propagator = StrictTraceContextPropagator::new();
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        );
        let cx = propagator.extract(&HeaderExtractor(&headers));
        assert!(!cx.span().span_context().is_valid());

        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        headers.insert(TRACESTATE, HeaderValue::from_static("congo=t61rcWkgMzE"));
        let cx = propagator.extract(&HeaderExtractor(&headers));
        let mut out = HeaderMap::new();
        propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
        assert_eq!(out[TRACEPARENT], headers[TRACEPARENT]);
        assert_eq!(out[TRACESTATE], "congo=t61rcWkgMzE");

        let trace = from_span_context(cx.span().span_context()).unwrap();
        assert_eq!(to_span_context(&trace), *cx.span().span_context());
    }
}
