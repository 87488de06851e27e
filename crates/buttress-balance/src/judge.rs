//! How the balancer reads an answer: failed or not (core's [`Classify`])
//! and, apart from that, overloaded or not ([`Overload`]).
//!
//! The two are separate questions on purpose. A 429 or
//! `RESOURCE_EXHAUSTED` is the endpoint saying "not now", not "broken":
//! ejecting it would move its load onto the others, which may be just as
//! full. So by default an overloaded answer does not count toward
//! ejection; it raises the endpoint's load estimate instead, which moves
//! share away from it gradually.

use std::error::Error;

use buttress_core::access::ResponseAccess;
use buttress_core::{Classify, GrpcCode, Outcome, Rejected};

/// Says whether an answer means "overloaded": the endpoint is fine but
/// busy.
pub trait Overload<R> {
    /// Whether `result` is an overloaded answer.
    fn is_overloaded(&self, result: Result<&R, &(dyn Error + 'static)>) -> bool;
}

/// The default [`Overload`]: an HTTP 429, a `grpc-status` of
/// `RESOURCE_EXHAUSTED` in the head (a trailers-only answer), or a
/// refusal by a layer below the balancer before sending (that endpoint's
/// own bulkhead, breaker or limit).
///
/// ```
/// use buttress_balance::{Overload, StatusOverload};
///
/// let busy = http::Response::builder().status(429).body(()).unwrap();
/// assert!(StatusOverload.is_overloaded(Ok(&busy)));
/// let grpc = http::Response::builder().header("grpc-status", "8").body(()).unwrap();
/// assert!(StatusOverload.is_overloaded(Ok(&grpc)));
/// let broken = http::Response::builder().status(503).body(()).unwrap();
/// assert!(!StatusOverload.is_overloaded(Ok(&broken)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusOverload;

impl<R: ResponseAccess> Overload<R> for StatusOverload {
    fn is_overloaded(&self, result: Result<&R, &(dyn Error + 'static)>) -> bool {
        match result {
            Ok(res) => {
                res.status() == http::StatusCode::TOO_MANY_REQUESTS
                    || GrpcCode::from_headers(res.headers()) == Some(GrpcCode::ResourceExhausted)
            }
            Err(err) => refused_below(err),
        }
    }
}

/// An [`Overload`] for services that are not HTTP: only a refusal below
/// the balancer before sending is an overload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoOverload;

impl<R> Overload<R> for NoOverload {
    fn is_overloaded(&self, result: Result<&R, &(dyn Error + 'static)>) -> bool {
        result.err().is_some_and(refused_below)
    }
}

fn refused_below(err: &(dyn Error + 'static)) -> bool {
    Rejected::find(err).is_some_and(|rejected| !rejected.was_sent())
}

/// What the balancer makes of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) outcome: Outcome,
    pub(crate) overloaded: bool,
}

/// The classifier and the overload test, together: the classifier the
/// ejection breakers judge by, and what the balancer's future asks.
#[derive(Debug, Clone, Copy)]
pub struct Judge<C, O> {
    pub(crate) classifier: C,
    pub(crate) overload: O,
    pub(crate) overload_ejects: bool,
}

impl<C, O> Judge<C, O> {
    pub(crate) fn verdict<R>(&self, result: Result<&R, &(dyn Error + 'static)>) -> Verdict
    where
        C: Classify<R>,
        O: Overload<R>,
    {
        Verdict {
            outcome: self.classifier.classify(result),
            overloaded: self.overload.is_overloaded(result),
        }
    }
}

/// The ejection breakers' view: an overloaded answer counts neither way
/// (unless `overload_ejects`).
impl<C: Classify<R>, O: Overload<R>, R> Classify<R> for Judge<C, O> {
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        if !self.overload_ejects && self.overload.is_overloaded(result) {
            return Outcome::Ignored;
        }
        self.classifier.classify(result)
    }
}
