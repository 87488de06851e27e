//! Reading a request's context from its headers: the one place that
//! decides what an inbound request may set.

use std::sync::Arc;
use std::time::Duration;

use buttress_core::context::CorrelationId;
use buttress_core::telemetry::Telemetry;
use buttress_core::{Criticality, RequestContext, TrustPolicy};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::deadline::inbound_timeout;
use crate::id::{IdMode, IdRules, MakeCorrelationId};
use crate::trace::{new_trace, read_trace};

/// Everything a [`ServerContextLayer`](super::ServerContextLayer) decided
/// at build time, shared by every service it makes.
pub(super) struct Settings {
    /// The header echoed on responses and read first.
    pub(super) id_header: HeaderName,
    /// Other headers an ID is accepted from, in order after `id_header`.
    pub(super) also_accept: Vec<HeaderName>,
    pub(super) id_mode: IdMode,
    pub(super) id_rules: IdRules,
    pub(super) make_id: Arc<dyn MakeCorrelationId>,
    pub(super) trust: TrustPolicy,
    pub(super) deadline_header: HeaderName,
    pub(super) max_deadline: Option<Duration>,
    pub(super) default_deadline: Option<Duration>,
    pub(super) criticality_header: HeaderName,
    pub(super) default_criticality: Criticality,
    pub(super) fault_header: HeaderName,
    /// Longest fault directive carried; `None` turns directives off.
    pub(super) max_fault_len: Option<usize>,
    pub(super) sample_new_traces: bool,
    #[allow(dead_code)] // held so the layer stays registered with its sink
    pub(super) telemetry: Telemetry,
}

impl Settings {
    /// The context for `request`.
    pub(super) fn read<B>(&self, request: &http::Request<B>) -> RequestContext {
        let headers = request.headers();
        let start = RequestContext::from_extensions(request.extensions())
            .map_or_else(Instant::now, RequestContext::start);
        let trusted = self.trust.is_trusted(request);

        let id = match self.id_mode {
            IdMode::Accept if trusted => self.accepted_id(headers),
            _ => None,
        }
        .unwrap_or_else(|| self.make_id.make_id());
        let trace = read_trace(headers).unwrap_or_else(|| new_trace(self.sample_new_traces));
        let mut ctx = RequestContext::new(start)
            .with_correlation_id(id)
            .with_trace(trace)
            .with_criticality(self.default_criticality);

        let mut timeout = self.default_deadline;
        if trusted {
            if let Some(asked) = inbound_timeout(headers, &self.deadline_header) {
                timeout = Some(asked);
            }
            if let Some(level) = single(headers, &self.criticality_header)
                .and_then(|v| Criticality::parse(v.as_bytes()))
            {
                ctx = ctx.with_criticality(level);
            }
            if let Some(fault) = self.fault(headers) {
                ctx = ctx.with_raw_fault(fault.clone());
            }
        }
        if let Some(timeout) = timeout {
            let timeout = self.max_deadline.map_or(timeout, |max| timeout.min(max));
            // A deadline beyond what `Instant` can hold is no deadline.
            if let Some(deadline) = start.checked_add(timeout) {
                ctx = ctx.with_deadline(deadline);
            }
        }
        ctx
    }

    /// A valid ID from the first ID header present (once), if any.
    fn accepted_id(&self, headers: &HeaderMap) -> Option<CorrelationId> {
        // The first ID header present decides; a repeated one is refused.
        let mut values = std::iter::once(&self.id_header)
            .chain(&self.also_accept)
            .map(|name| headers.get_all(name).iter())
            .find_map(|mut all| all.next().map(|first| (first, all)))?;
        match values.1.next() {
            None => self.id_rules.accept(values.0),
            Some(_) => None,
        }
    }

    /// The raw fault directive, if enabled, present once, short enough and
    /// printable ASCII.
    fn fault<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let max = self.max_fault_len?;
        let value = single(headers, &self.fault_header)?;
        let bytes = value.as_bytes();
        let printable = bytes.iter().all(|&b| b == b' ' || b.is_ascii_graphic());
        (!bytes.is_empty() && bytes.len() <= max && printable).then_some(value)
    }
}

/// The value of `name` if it appears exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    all.next().is_none().then_some(first)
}
