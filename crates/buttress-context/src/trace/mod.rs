//! W3C Trace Context: strict `traceparent` and `tracestate` handling.
//!
//! The server layer reads the caller's trace with [`read_trace`] and
//! starts a new one ([`new_trace`]) when there is none or it is invalid;
//! the client layer writes [`traceparent_value`] with a fresh span ID on
//! every outbound call, so each hop is a child of the one before.
//!
//! Both headers come from callers we do not control, so parsing follows
//! the spec to the letter and bounds its own work: `traceparent` is read at
//! fixed positions (lower-case hex only, version `ff` and all-zero IDs
//! refused, later versions read by the version-00 layout, only the
//! defined `trace-flags` bits kept — [`KNOWN_FLAGS`]), and `tracestate` is
//! validated member by member: refused whole when a member is invalid or
//! there are more than 32, repeated keys passed on, cut to 512 characters
//! by dropping whole entries ([`tracestate`]). A header we refuse is never
//! forwarded: the outbound `traceparent` is rebuilt from parsed fields
//! (version 00, reserved flag bits zero), and `tracestate` is forwarded
//! only as validated.
//!
//! ```
//! use buttress_context::trace::read_trace;
//! use http::HeaderMap;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! headers.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
//! let trace = read_trace(&headers).unwrap();
//! assert!(trace.is_sampled());
//! assert_eq!(trace.state().unwrap(), "congo=t61rcWkgMzE");
//!
//! headers.insert("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! assert!(read_trace(&headers).is_none());
//! ```

mod ids;
mod traceparent;
pub mod tracestate;

use buttress_core::context::TraceContext;
use http::{HeaderMap, HeaderValue};

use crate::headers::{TRACEPARENT, TRACESTATE};

pub use self::ids::{new_span_id, new_trace_id};
pub use self::traceparent::{
    KNOWN_FLAGS, RANDOM_TRACE_ID, SAMPLED, TRACEPARENT_LEN, TraceparentError, parse_traceparent,
    traceparent_value, write_traceparent,
};

/// The caller's trace from `headers`: a valid `traceparent` (exactly one)
/// and, with it, the `tracestate` to forward. `None` when `traceparent` is
/// absent, repeated or invalid; `tracestate` is then ignored, as the spec
/// requires.
pub fn read_trace(headers: &HeaderMap) -> Option<TraceContext> {
    let mut parents = headers.get_all(TRACEPARENT).iter();
    let parent = parents.next()?;
    if parents.next().is_some() {
        return None;
    }
    trace_of(parent, headers, true)
}

/// [`read_trace`] from the one `traceparent` value already found; the
/// `tracestate` lines are looked up only when `has_state` says there are
/// some.
pub(crate) fn trace_of(
    parent: &HeaderValue,
    headers: &HeaderMap,
    has_state: bool,
) -> Option<TraceContext> {
    let trace = parse_traceparent(parent.as_bytes()).ok()?;
    if !has_state {
        return Some(trace);
    }
    match tracestate::limit(&headers.get_all(TRACESTATE)) {
        Some(state) => Some(trace.with_state(state)),
        None => Some(trace),
    }
}

/// A new trace with a random trace ID, rooted at a random span ID, for a
/// request that brought no valid trace. `sampled` sets the sampled flag.
///
/// Every byte of the trace ID is drawn uniformly at random, so the
/// `random-trace-id` flag is set, as the spec asks of a trace it starts
/// ("When at least the right-most 7 bytes of the `trace-id` are randomly
/// (or pseudo-randomly) generated, the `random-trace-id` flag SHOULD be
/// set to `1`"); every reserved bit is 0.
///
/// ```
/// use buttress_context::trace::{RANDOM_TRACE_ID, new_trace};
/// let trace = new_trace(false);
/// assert_ne!(trace.trace_id(), [0; 16]);
/// assert!(!trace.is_sampled());
/// assert_eq!(trace.flags(), RANDOM_TRACE_ID);
/// assert_eq!(new_trace(true).flags(), 0x03);
/// ```
pub fn new_trace(sampled: bool) -> TraceContext {
    let flags = RANDOM_TRACE_ID | if sampled { SAMPLED } else { 0 };
    TraceContext::new(new_trace_id(), new_span_id(), flags)
}
