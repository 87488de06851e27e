//! W3C trace context, as carried by `traceparent` and `tracestate`.

use std::fmt;

use http::HeaderValue;

/// The trace a request belongs to: W3C `traceparent` fields, and the
/// opaque `tracestate` to forward. Parsing the headers is the context
/// layer's job; this is the value every layer shares.
///
/// ```
/// use buttress_core::context::TraceContext;
///
/// let trace = TraceContext::new([0xab; 16], [0xcd; 8], 0x01);
/// assert!(trace.is_sampled());
/// assert_eq!(trace.trace_id(), [0xab; 16]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
    state: Option<HeaderValue>,
}

impl TraceContext {
    /// A trace context with no `tracestate`.
    #[inline]
    pub const fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Self {
        TraceContext {
            trace_id,
            parent_id,
            flags,
            state: None,
        }
    }

    /// Attaches the vendor `tracestate` to forward unchanged.
    #[inline]
    pub fn with_state(mut self, state: HeaderValue) -> Self {
        self.state = Some(state);
        self
    }

    /// The 16-byte trace ID.
    #[inline]
    pub const fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The 8-byte ID of the caller's span (the parent of ours).
    #[inline]
    pub const fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags byte.
    #[inline]
    pub const fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled this trace.
    #[inline]
    pub const fn is_sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// The `tracestate` to forward, if any.
    #[inline]
    pub fn state(&self) -> Option<&HeaderValue> {
        self.state.as_ref()
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        f.debug_struct("TraceContext")
            .field("trace_id", &Hex(&self.trace_id))
            .field("parent_id", &Hex(&self.parent_id))
            .field("flags", &self.flags)
            .field("state", &self.state)
            .finish()
    }
}
