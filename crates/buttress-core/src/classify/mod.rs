//! One notion of failure: [`Outcome`] and the [`Classify`] trait.
//!
//! The breaker, retry, adaptive limit, throttling and metrics must agree on
//! what a failed call is, or one trips while another retries. They all ask
//! a [`Classify`] implementation, which judges a result *by reference*
//! (the layer still owns the result and returns it untouched) and without
//! allocating.
//!
//! Built-in classifiers:
//! - [`HttpClassifier`]: 5xx, 429 and transport errors fail, other 4xx
//!   succeed (the caller's fault, not the dependency's); configurable.
//! - [`GrpcClassifier`]: judged by `grpc-status`; for streamed answers the
//!   status arrives in trailers, which [`GrpcStatusWatch`] watches.
//! - [`HttpOrGrpcClassifier`]: `grpc-status` when an answer carries one,
//!   the HTTP status otherwise — for clients that speak both.
//! - [`AnyErrorFails`]: for non-HTTP services, every `Err` is a failure.
//!
//! Every classifier treats a [`Rejected`] error the same way: before
//! sending it is [`Outcome::Ignored`], after sending (a timeout, a deadline,
//! an injected fault) it is [`Outcome::Failure`]. A dropped future is
//! [`Outcome::Cancelled`]; layers report that themselves, since no result
//! exists to classify.
//!
//! ```
//! use buttress_core::classify::{Classify, HttpClassifier, Outcome};
//!
//! let classifier = HttpClassifier::default();
//! let res = http::Response::builder().status(503).body(()).unwrap();
//! assert_eq!(classifier.classify(Ok(&res)), Outcome::Failure);
//!
//! let res = http::Response::builder().status(404).body(()).unwrap();
//! assert_eq!(classifier.classify(Ok(&res)), Outcome::Success);
//! ```

mod body;
mod body_end;
mod either;
mod grpc;
mod http;

use std::error::Error;

pub use self::body::{GrpcStatusBody, GrpcStatusWatch};
pub use self::body_end::{Deferred, JudgedBody, JudgedToBodyEnd};
pub use self::either::HttpOrGrpcClassifier;
pub use self::grpc::{GrpcClassifier, GrpcCodeSet};
pub use self::http::{HttpClassifier, StatusSet};
use crate::Rejected;

/// The verdict on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency answered as it should.
    Success,
    /// The dependency failed: counts toward tripping, retrying, lowering a
    /// limit.
    Failure,
    /// Counts neither way: the call never reached the dependency (a local
    /// rejection), or the classifier chose to disregard it.
    Ignored,
    /// The caller gave up (the future was dropped): capacity is released
    /// and nothing is blamed.
    Cancelled,
}

impl Outcome {
    /// A stable `snake_case` label for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Whether the outcome counts against the dependency.
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure)
    }
}

/// Judges the result of a call.
///
/// `R` is the response type. The error is seen as `&dyn Error` so that one
/// classifier serves a `BoxError` (tower's usual error) and any concrete
/// error type alike.
///
/// Closures implement it too:
///
/// ```
/// use buttress_core::classify::{Classify, Outcome};
///
/// // A dependency whose 404 means "not ready yet" and should count as failure.
/// let classify = |result: Result<&http::Response<()>, &(dyn std::error::Error + 'static)>| match result {
///     Ok(res) if res.status().is_server_error() || res.status() == 404 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(err) => buttress_core::classify::classify_error(err),
/// };
/// let res = http::Response::builder().status(404).body(()).unwrap();
/// assert_eq!(classify.classify(Ok(&res)), Outcome::Failure);
/// ```
pub trait Classify<R> {
    /// Judges `result`: the response, or the error the call ended with.
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome;
}

impl<R, F> Classify<R> for F
where
    F: Fn(Result<&R, &(dyn Error + 'static)>) -> Outcome,
{
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        self(result)
    }
}

/// The verdict on an error shared by every built-in classifier: a
/// [`Rejected`] anywhere in the chain decides by whether the request was
/// sent; any other error (transport, protocol) is a failure.
pub fn classify_error(error: &(dyn Error + 'static)) -> Outcome {
    match Rejected::find(error) {
        Some(rejected) => rejected.outcome(),
        None => Outcome::Failure,
    }
}

/// Every `Ok` succeeds and every `Err` fails (but for local rejections,
/// see [`classify_error`]): for services that are not HTTP.
///
/// ```
/// use buttress_core::classify::{AnyErrorFails, Classify, Outcome};
///
/// let err: buttress_core::BoxError = "boom".into();
/// assert_eq!(Classify::<u32>::classify(&AnyErrorFails, Err(&*err)), Outcome::Failure);
/// assert_eq!(AnyErrorFails.classify(Ok(&7u32)), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyErrorFails;

impl<R> Classify<R> for AnyErrorFails {
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(err) => classify_error(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxError, Reason};

    #[test]
    fn rejection_before_sending_is_ignored_after_is_failure() {
        let before: BoxError = Rejected::new(Reason::BulkheadFull).into();
        let after: BoxError = Rejected::new(Reason::Timeout).sent().into();
        let injected: BoxError = Rejected::new(Reason::FaultInjected).sent().into();
        assert_eq!(classify_error(&*before), Outcome::Ignored);
        assert_eq!(classify_error(&*after), Outcome::Failure);
        assert_eq!(classify_error(&*injected), Outcome::Failure);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify_error(&io), Outcome::Failure);
    }
}
