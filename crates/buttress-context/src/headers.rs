//! The header names this crate reads and writes, as constants.
//!
//! Every name here is the default of a configurable setting, except the
//! W3C pair, whose names the spec fixes. They are `from_static`, so
//! cloning one onto a request or response allocates nothing.

use buttress_core::config::ConfigError;
use http::HeaderName;

/// `x-request-id`: the default correlation ID header, read inbound,
/// echoed on responses and written on outbound calls.
///
/// ```
/// assert_eq!(buttress_context::headers::X_REQUEST_ID, "x-request-id");
/// ```
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `x-correlation-id`: also accepted inbound by default, for callers that
/// use this older name.
pub const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// `tracestate` (W3C Trace Context).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// `x-request-timeout-ms`: the default header carrying the caller's
/// remaining time, in whole milliseconds, on plain HTTP calls (gRPC calls
/// use `grpc-timeout`).
pub const X_REQUEST_TIMEOUT_MS: HeaderName = HeaderName::from_static("x-request-timeout-ms");

/// `x-criticality`: the default header carrying the request's
/// [`Criticality`](buttress_core::Criticality) (`CRITICAL`,
/// `SHEDDABLE_PLUS`, …). This crate is its one owner.
pub const X_CRITICALITY: HeaderName = HeaderName::from_static("x-criticality");

/// `x-buttress-fault`: the default header carrying a fault directive from
/// a trusted test harness (parsed and applied by the chaos layer).
pub const X_BUTTRESS_FAULT: HeaderName = HeaderName::from_static("x-buttress-fault");

pub use buttress_core::codec::GRPC_TIMEOUT;

/// A configured header name, parsed; the error names `field`.
pub(crate) fn parse_name(field: &'static str, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConfigError::new(field, "not a valid header name"))
}

/// Every configured header names one thing, and none is a header whose
/// name the protocols fix.
pub(crate) fn check_distinct<'a>(
    names: impl Iterator<Item = (&'static str, &'a HeaderName)> + Clone,
) -> Result<(), ConfigError> {
    for (i, (field, name)) in names.clone().enumerate() {
        if [TRACEPARENT, TRACESTATE, GRPC_TIMEOUT].contains(name) {
            return Err(ConfigError::new(
                field,
                "names a header the protocols reserve",
            ));
        }
        if names.clone().skip(i + 1).any(|(_, other)| other == name) {
            return Err(ConfigError::new(
                field,
                "names the same header as another setting",
            ));
        }
    }
    Ok(())
}
