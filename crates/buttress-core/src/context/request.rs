//! The per-request context every layer reads.

use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderValue};
use tokio::time::Instant;

use super::{CorrelationId, Criticality, FaultDirective, TraceContext};

/// What Buttress knows about the request being served: when it started,
/// its correlation ID and trace, its deadline, its criticality, and any
/// fault a trusted caller asked for.
///
/// The outermost Buttress layer creates it — reading the clock once, so
/// inner layers take the start instant from here instead of reading it
/// again — and makes it the current context while the inner service is
/// called ([`RequestContext::in_scope`]) and while the request future runs
/// ([`RequestContext::scope`]). Inner layers, the handler and client
/// layers find it there ([`RequestContext::current`],
/// [`RequestContext::with_request`]); client layers carry the ID, the
/// remaining deadline and the criticality into every outgoing call. Clones share their
/// header bytes; cloning allocates nothing.
///
/// ```
/// use buttress_core::{Criticality, RequestContext};
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let start = Instant::now();
/// let ctx = RequestContext::new(start)
///     .with_deadline(start + Duration::from_millis(300))
///     .with_criticality(Criticality::Sheddable);
/// assert_eq!(ctx.remaining(start + Duration::from_millis(100)), Some(Duration::from_millis(200)));
/// assert_eq!(ctx.remaining(start + Duration::from_secs(1)), Some(Duration::ZERO));
/// ```
#[derive(Debug, Clone)]
pub struct RequestContext {
    start: Instant,
    correlation_id: Option<CorrelationId>,
    trace: Option<TraceContext>,
    deadline: Option<Instant>,
    criticality: Criticality,
    /// Rare (chaos testing only), so kept out of line: every layer moves
    /// the context, and this keeps it small.
    faults: Option<Arc<Faults>>,
}

/// The fault directives a trusted caller sent.
#[derive(Debug, Clone, Default)]
struct Faults {
    directive: Option<FaultDirective>,
    raw: Option<HeaderValue>,
}

impl RequestContext {
    /// A context for a request that started at `start`, with nothing else
    /// known: no ID, no deadline, default criticality.
    #[inline]
    pub fn new(start: Instant) -> Self {
        RequestContext {
            start,
            correlation_id: None,
            trace: None,
            deadline: None,
            criticality: Criticality::default(),
            faults: None,
        }
    }

    /// A context for a request starting now (reads the clock).
    pub fn starting_now() -> Self {
        Self::new(Instant::now())
    }

    /// Sets the correlation ID.
    #[inline]
    pub fn with_correlation_id(mut self, id: CorrelationId) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the trace context.
    #[inline]
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Sets the deadline; an earlier deadline already set wins, since a
    /// layer may shorten the time a request has but never extend it.
    #[inline]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(match self.deadline {
            Some(current) => current.min(deadline),
            None => deadline,
        });
        self
    }

    /// Sets the criticality.
    #[inline]
    pub fn with_criticality(mut self, criticality: Criticality) -> Self {
        self.criticality = criticality;
        self
    }

    /// Sets the fault directive.
    #[inline]
    pub fn with_fault(mut self, fault: FaultDirective) -> Self {
        Arc::make_mut(self.faults.get_or_insert_default()).directive = Some(fault);
        self
    }

    /// Sets the fault directive as the raw header text a trusted caller
    /// sent, to be carried to every hop and parsed by the chaos layer of
    /// the dependency it names. The context layer checks trust and caps
    /// the length before calling this; the text is not parsed here.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    /// use http::HeaderValue;
    ///
    /// let ctx = RequestContext::starting_now()
    ///     .with_raw_fault(HeaderValue::from_static("dependency=recs;abort=503"));
    /// assert_eq!(ctx.raw_fault().unwrap(), "dependency=recs;abort=503");
    /// ```
    #[inline]
    pub fn with_raw_fault(mut self, text: HeaderValue) -> Self {
        Arc::make_mut(self.faults.get_or_insert_default()).raw = Some(text);
        self
    }

    /// The fault directive's raw header text, as a trusted caller sent it.
    #[inline]
    pub fn raw_fault(&self) -> Option<&HeaderValue> {
        self.faults.as_ref()?.raw.as_ref()
    }

    /// When the request started, as read by the outermost layer.
    #[inline]
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The correlation ID.
    #[inline]
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.correlation_id.as_ref()
    }

    /// Takes the correlation ID out of the context (to echo it once the
    /// request is done, without cloning it).
    #[inline]
    pub fn into_correlation_id(self) -> Option<CorrelationId> {
        self.correlation_id
    }

    /// Takes the correlation ID out, leaving none (to echo it once the
    /// request is done, from a context that is not moved).
    ///
    /// ```
    /// use buttress_core::RequestContext;
    /// use buttress_core::context::CorrelationId;
    ///
    /// let id = CorrelationId::parse(b"abc").unwrap();
    /// let mut ctx = RequestContext::starting_now().with_correlation_id(id.clone());
    /// assert_eq!(ctx.take_correlation_id(), Some(id));
    /// assert_eq!(ctx.correlation_id(), None);
    /// ```
    #[inline]
    pub fn take_correlation_id(&mut self) -> Option<CorrelationId> {
        self.correlation_id.take()
    }

    /// The trace context.
    #[inline]
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// The instant by which the request must be answered.
    #[inline]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left before the deadline at `now` (zero once passed);
    /// `None` without a deadline.
    #[inline]
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Whether the deadline has passed at `now`.
    #[inline]
    pub fn is_expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// The request's criticality.
    #[inline]
    pub fn criticality(&self) -> Criticality {
        self.criticality
    }

    /// The fault a trusted caller asked for.
    #[inline]
    pub fn fault(&self) -> Option<&FaultDirective> {
        self.faults.as_ref()?.directive.as_ref()
    }

    /// The context stored in a request's (or response's) extensions.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    ///
    /// let mut req = http::Request::new(());
    /// req.extensions_mut().insert(RequestContext::starting_now());
    /// assert!(RequestContext::from_extensions(req.extensions()).is_some());
    /// ```
    #[inline]
    pub fn from_extensions(extensions: &Extensions) -> Option<&RequestContext> {
        extensions.get::<RequestContext>()
    }

    /// The context for a request: the one in its extensions (an
    /// `http::Request` built with it), else the current one (the request
    /// being served, or the one a client call is made for).
    pub fn for_request<B>(request: &http::Request<B>) -> Option<RequestContext> {
        Self::from_extensions(request.extensions())
            .cloned()
            .or_else(Self::current)
    }
}
