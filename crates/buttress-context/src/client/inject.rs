//! Writing a context onto an outbound request's headers.

use std::time::Duration;

use buttress_core::codec::{grpc_timeout_value, parse_grpc_timeout};
use buttress_core::telemetry::Telemetry;
use buttress_core::{Reason, Rejected, RequestContext};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::deadline::{parse_timeout_ms, timeout_ms_value};
use crate::headers::{GRPC_TIMEOUT, TRACEPARENT, TRACESTATE};
use crate::trace::{new_span_id, traceparent_value};

/// What a [`ClientContextLayer`](super::ClientContextLayer) writes, and
/// under which names.
pub(super) struct Settings {
    pub(super) id_header: HeaderName,
    pub(super) deadline_header: HeaderName,
    pub(super) deadline_margin: Duration,
    pub(super) criticality_header: HeaderName,
    pub(super) fault_header: HeaderName,
    pub(super) propagate_fault: bool,
    pub(super) telemetry: Telemetry,
}

impl Settings {
    /// Writes `ctx` onto `headers`, or refuses the call when its deadline
    /// leaves no time. The deadline goes first, so a refused call writes
    /// nothing.
    pub(super) fn inject(
        &self,
        ctx: &RequestContext,
        headers: &mut HeaderMap,
    ) -> Result<(), Rejected> {
        if let Some(deadline) = ctx.deadline() {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(self.deadline_margin);
            if left.is_zero() {
                return Err(Rejected::new(Reason::DeadlineExceeded));
            }
            self.write_deadline(left, headers);
        }
        if let Some(id) = ctx.correlation_id() {
            headers.insert(self.id_header.clone(), id.header_value().clone());
        }
        if let Some(trace) = ctx.trace() {
            headers.insert(
                TRACEPARENT,
                traceparent_value(trace.trace_id(), new_span_id(), trace.flags()),
            );
            match trace.state() {
                Some(state) => headers.insert(TRACESTATE, state.clone()),
                None => headers.remove(TRACESTATE),
            };
        }
        headers.insert(
            self.criticality_header.clone(),
            HeaderValue::from_static(ctx.criticality().as_str()),
        );
        if self.propagate_fault
            && let Some(fault) = ctx.raw_fault()
        {
            headers.insert(self.fault_header.clone(), fault.clone());
        }
        Ok(())
    }

    /// The remaining time as `grpc-timeout` for gRPC, else the
    /// milliseconds header, keeping a shorter timeout already set.
    fn write_deadline(&self, left: Duration, headers: &mut HeaderMap) {
        if is_grpc(headers) {
            let set = headers
                .get(GRPC_TIMEOUT)
                .and_then(|v| parse_grpc_timeout(v).ok());
            if set.is_none_or(|set| left < set) {
                headers.insert(GRPC_TIMEOUT, grpc_timeout_value(left));
            }
        } else {
            let set = headers
                .get(&self.deadline_header)
                .and_then(|v| parse_timeout_ms(v).ok());
            if set.is_none_or(|set| left < set) {
                headers.insert(self.deadline_header.clone(), timeout_ms_value(left));
            }
        }
    }

    pub(super) fn report_refusal(&self) {
        self.telemetry
            .report(buttress_core::telemetry::Event::Rejected(
                Reason::DeadlineExceeded,
            ));
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
