//! Writing a context onto an outbound request's headers.

use std::time::Duration;

use buttress_core::codec::{grpc_timeout_value, parse_grpc_timeout};
use buttress_core::grpc::is_grpc;
use buttress_core::telemetry::Telemetry;
use buttress_core::{Criticality, Reason, Rejected, RequestContext, clock};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::deadline::{parse_timeout_ms, single, timeout_ms_value};
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
    ///
    /// What changes a downstream's behaviour comes from the context alone,
    /// whatever headers the request already carries (a handler that
    /// copies its caller's headers onto the call must not launder them
    /// into trusted ones): every deadline header is bounded by the time
    /// left, and the criticality and fault directive headers are the
    /// context's or absent.
    pub(super) fn inject(
        &self,
        ctx: &RequestContext,
        headers: &mut HeaderMap,
    ) -> Result<(), Rejected> {
        // A request that carries no headers yet (the usual call a handler
        // builds) has no timeout, fault or `tracestate` of its own to look
        // at.
        let had_headers = !headers.is_empty();
        if let Some(deadline) = ctx.deadline() {
            let left = deadline
                .saturating_duration_since(clock::now())
                .saturating_sub(self.deadline_margin);
            if left.is_zero() {
                return Err(Rejected::new(Reason::DeadlineExceeded));
            }
            match had_headers {
                true => self.bound_deadline(left, headers),
                false => {
                    headers.insert(self.deadline_header.clone(), timeout_ms_value(left));
                }
            }
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
                Some(state) => {
                    headers.insert(TRACESTATE, state.clone());
                }
                None if had_headers => {
                    headers.remove(TRACESTATE);
                }
                None => {}
            }
        }
        headers.insert(
            self.criticality_header.clone(),
            criticality_value(ctx.criticality()),
        );
        match ctx.raw_fault() {
            Some(fault) if self.propagate_fault => {
                headers.insert(self.fault_header.clone(), fault.clone());
            }
            // A directive the context does not carry (a caller's, copied
            // by the handler) reaches nobody.
            _ if had_headers => {
                headers.remove(&self.fault_header);
            }
            _ => {}
        }
        Ok(())
    }

    /// Bounds the deadline headers a request already carries by `left`:
    /// the protocol's own (`grpc-timeout` for gRPC, else the milliseconds
    /// header) is written when absent, and each of the two present is kept
    /// only when it is a single, valid timeout shorter than `left` (one the
    /// application set on the call, such as tonic's `set_timeout`); a
    /// longer, repeated or unreadable one — a caller's header the handler
    /// copied, say — is replaced by `left`.
    fn bound_deadline(&self, left: Duration, headers: &mut HeaderMap) {
        let grpc = is_grpc(headers);
        if grpc || headers.contains_key(GRPC_TIMEOUT) {
            let set = single(headers, &GRPC_TIMEOUT).and_then(|v| parse_grpc_timeout(v).ok());
            if set.is_none_or(|set| left < set) {
                headers.insert(GRPC_TIMEOUT, grpc_timeout_value(left));
            }
        }
        if !grpc || headers.contains_key(&self.deadline_header) {
            let set = single(headers, &self.deadline_header).and_then(|v| parse_timeout_ms(v).ok());
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

/// The criticality header's value, checked once at compile time rather
/// than on every call (`from_static` checks its bytes when run).
fn criticality_value(level: Criticality) -> HeaderValue {
    const fn value(level: Criticality) -> HeaderValue {
        HeaderValue::from_static(level.as_str())
    }
    static VALUES: [HeaderValue; 4] = [
        value(Criticality::ALL[0]),
        value(Criticality::ALL[1]),
        value(Criticality::ALL[2]),
        value(Criticality::ALL[3]),
    ];
    let i = Criticality::ALL
        .iter()
        .position(|&l| l == level)
        .expect("every level is in ALL");
    VALUES[i].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criticality_values_are_the_wire_forms() {
        for level in Criticality::ALL {
            assert_eq!(criticality_value(level), level.as_str());
        }
    }
}
