//! Which priority a request has: rules of the server first, then the
//! request's own (trusted) criticality.

use std::fmt;
use std::sync::Arc;

use buttress_core::access::RequestAccess;
use buttress_core::{Criticality, RequestContext};
use http::Method;

use super::route::RouteTemplate;

/// A closure assigning a priority, or `None` to defer to the other rules.
pub type PriorityFn = dyn Fn(&dyn RequestAccess) -> Option<Criticality> + Send + Sync;

/// How a request's priority is found, first match wins:
///
/// 1. the closure, if one was given and it returns `Some`;
/// 2. health and readiness routes: [`Criticality::CriticalPlus`];
/// 3. route templates, in the order given;
/// 4. methods, in the order given;
/// 5. the criticality in the request's `RequestContext` (extensions, then
///    the current task): set by the context layer from the caller's
///    header only when its `TrustPolicy` trusts the caller, so an
///    untrusted caller cannot raise its own priority;
/// 6. the default (critical).
///
/// Found only while shedding: a request that is admitted anyway never
/// pays for it.
#[derive(Clone)]
pub(crate) struct PriorityRules {
    pub(crate) closure: Option<Arc<PriorityFn>>,
    pub(crate) health: Box<[RouteTemplate]>,
    pub(crate) routes: Box<[(RouteTemplate, Criticality)]>,
    pub(crate) methods: Box<[(Method, Criticality)]>,
    pub(crate) default: Criticality,
}

impl PriorityRules {
    /// The priority of `request`.
    pub(crate) fn priority_of<Req: RequestAccess>(&self, request: &Req) -> Criticality {
        if let Some(level) = self.closure.as_ref().and_then(|closure| closure(request)) {
            return level;
        }
        let path = request.path();
        if self.health.iter().any(|route| route.matches(path)) {
            return Criticality::CriticalPlus;
        }
        if let Some((_, level)) = self.routes.iter().find(|(route, _)| route.matches(path)) {
            return *level;
        }
        if !self.methods.is_empty() {
            let method = request.method();
            if let Some((_, level)) = self.methods.iter().find(|(m, _)| m == method) {
                return *level;
            }
        }
        RequestContext::with_request(request, |ctx| {
            ctx.map_or(self.default, RequestContext::criticality)
        })
    }
}

impl fmt::Debug for PriorityRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityRules")
            .field("closure", &self.closure.is_some())
            .field("health", &self.health)
            .field("routes", &self.routes)
            .field("methods", &self.methods)
            .field("default", &self.default)
            .finish()
    }
}

/// The position of a level, least important first.
#[inline]
pub(crate) fn rank(level: Criticality) -> u8 {
    match level {
        Criticality::Sheddable => 0,
        Criticality::SheddablePlus => 1,
        Criticality::Critical => 2,
        Criticality::CriticalPlus => 3,
    }
}
