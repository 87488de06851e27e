//! The typed error of a refused request.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::classify::Outcome;

/// Why a Buttress layer refused or ended a request.
///
/// A closed set: the edge maps each reason to one HTTP status and one gRPC
/// code, and metrics label rejections by it. New reasons are added here,
/// once, never invented per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A circuit breaker is open (or forced open) for this dependency.
    CircuitOpen,
    /// A bulkhead had no free slot and no room in its queue.
    BulkheadFull,
    /// The request waited in a queue for its maximum wait, or until its
    /// deadline left no time to run.
    QueueTimeout,
    /// The adaptive concurrency limit is reached.
    Overloaded,
    /// Load shedding dropped the request for its priority.
    Shed,
    /// Client-side throttling of a dependency that is rejecting work.
    Throttled,
    /// The caller is over its rate-limit quota.
    RateLimited,
    /// A layer's own time limit elapsed.
    Timeout,
    /// The request's propagated deadline ran out.
    DeadlineExceeded,
    /// Fault injection failed the request on purpose.
    FaultInjected,
    /// A balancer had no endpoint to send to: every replica ejected,
    /// unhealthy or gone.
    NoEndpoint,
}

impl Reason {
    /// Every reason, in declaration order; handy for pre-resolving one
    /// metric handle per reason.
    pub const ALL: [Reason; 11] = [
        Reason::CircuitOpen,
        Reason::BulkheadFull,
        Reason::QueueTimeout,
        Reason::Overloaded,
        Reason::Shed,
        Reason::Throttled,
        Reason::RateLimited,
        Reason::Timeout,
        Reason::DeadlineExceeded,
        Reason::FaultInjected,
        Reason::NoEndpoint,
    ];

    /// A stable `snake_case` label for metrics and logs.
    ///
    /// ```
    /// assert_eq!(buttress_core::Reason::BulkheadFull.as_str(), "bulkhead_full");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::CircuitOpen => "circuit_open",
            Reason::BulkheadFull => "bulkhead_full",
            Reason::QueueTimeout => "queue_timeout",
            Reason::Overloaded => "overloaded",
            Reason::Shed => "shed",
            Reason::Throttled => "throttled",
            Reason::RateLimited => "rate_limited",
            Reason::Timeout => "timeout",
            Reason::DeadlineExceeded => "deadline_exceeded",
            Reason::FaultInjected => "fault_injected",
            Reason::NoEndpoint => "no_endpoint",
        }
    }

    /// The position of this reason in [`Reason::ALL`], for indexing
    /// pre-resolved handles without a map lookup.
    pub const fn index(self) -> usize {
        self as usize
    }

    const fn describe(self) -> &'static str {
        match self {
            Reason::CircuitOpen => "circuit open",
            Reason::BulkheadFull => "bulkhead full",
            Reason::QueueTimeout => "queue timeout",
            Reason::Overloaded => "overloaded",
            Reason::Shed => "load shed",
            Reason::Throttled => "throttled",
            Reason::RateLimited => "rate limited",
            Reason::Timeout => "timed out",
            Reason::DeadlineExceeded => "deadline exceeded",
            Reason::FaultInjected => "fault injected",
            Reason::NoEndpoint => "no endpoint available",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The error a Buttress layer returns when it refuses or ends a request.
///
/// Layers return it boxed in a [`BoxError`](crate::BoxError); callers find it
/// with [`Rejected::find`], however many layers wrapped it. It records
/// whether the request had reached the inner service: a rejection *before
/// sending* never counts against the dependency (its [`outcome`] is
/// [`Outcome::Ignored`]), while a timeout or an injected fault after
/// sending does ([`Outcome::Failure`]).
///
/// ```
/// use buttress_core::{Outcome, Reason, Rejected};
/// use std::time::Duration;
///
/// let shed = Rejected::new(Reason::Shed).with_retry_after(Duration::from_secs(1));
/// assert_eq!(shed.to_string(), "load shed");
/// assert_eq!(shed.outcome(), Outcome::Ignored);
///
/// let timed_out = Rejected::new(Reason::Timeout).sent();
/// assert_eq!(timed_out.outcome(), Outcome::Failure);
/// ```
///
/// [`outcome`]: Rejected::outcome
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    reason: Reason,
    retry_after: Option<Duration>,
    sent: bool,
    quota: Option<Quota>,
}

/// The quota figures of a rate-limit rejection: which policy refused the
/// caller, how large it is, and where the caller stands. The edge writes
/// them as the `RateLimit-Policy` and `RateLimit` fields of
/// draft-ietf-httpapi-ratelimit-headers-09.
///
/// ```
/// use buttress_core::{Quota, Reason, Rejected};
/// use std::time::Duration;
///
/// let quota = Quota::new("default", 10, Duration::from_secs(1))
///     .with_remaining(0)
///     .with_reset(Duration::from_millis(500));
/// let rejected = Rejected::new(Reason::RateLimited)
///     .with_retry_after(Duration::from_millis(100))
///     .with_quota(quota.clone());
/// assert_eq!(rejected.quota(), Some(&quota));
/// assert_eq!(rejected.quota().unwrap().limit, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quota {
    /// The policy's name (`"default"`, `"premium"`): an HTTP structured
    /// field token where possible, since it names the policy on the wire.
    pub policy: Arc<str>,
    /// Quota units (requests, or their cost) the policy allows per
    /// `window`.
    pub limit: u64,
    /// The window `limit` is counted over.
    pub window: Duration,
    /// Quota units the caller may still spend now.
    pub remaining: u64,
    /// The time until the caller's quota is whole again.
    pub reset: Duration,
}

impl Quota {
    /// A policy named `policy` allowing `limit` units per `window`, with
    /// nothing remaining and no reset time yet.
    pub fn new(policy: impl Into<Arc<str>>, limit: u64, window: Duration) -> Self {
        Quota {
            policy: policy.into(),
            limit,
            window,
            remaining: 0,
            reset: Duration::ZERO,
        }
    }

    /// Sets the units the caller may still spend now.
    pub fn with_remaining(mut self, remaining: u64) -> Self {
        self.remaining = remaining;
        self
    }

    /// Sets the time until the caller's quota is whole again.
    pub fn with_reset(mut self, reset: Duration) -> Self {
        self.reset = reset;
        self
    }
}

impl Rejected {
    /// A rejection for `reason`, before the request was sent, with no
    /// retry hint.
    pub const fn new(reason: Reason) -> Self {
        Rejected {
            reason,
            retry_after: None,
            sent: false,
            quota: None,
        }
    }

    /// Adds a hint of when a retry may succeed (becomes `Retry-After` and
    /// `grpc-retry-pushback-ms` at the edge).
    pub const fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Adds the quota figures of a rate-limit rejection (become the
    /// `RateLimit-Policy` and `RateLimit` fields at the edge).
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// The quota figures, for a rate-limit rejection that carries them.
    pub fn quota(&self) -> Option<&Quota> {
        self.quota.as_ref()
    }

    /// Marks the request as having reached the inner service (a timeout
    /// after sending, an injected fault standing in for the dependency).
    pub const fn sent(mut self) -> Self {
        self.sent = true;
        self
    }

    /// Why the request was refused.
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// When a retry may succeed, if the layer knows.
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the request had reached the inner service.
    pub const fn was_sent(&self) -> bool {
        self.sent
    }

    /// How a classifier judges this rejection: [`Outcome::Ignored`] before
    /// sending (the dependency never saw the call), [`Outcome::Failure`]
    /// after.
    pub const fn outcome(&self) -> Outcome {
        if self.sent {
            Outcome::Failure
        } else {
            Outcome::Ignored
        }
    }

    /// Finds a `Rejected` in `error` or anywhere in its source chain.
    ///
    /// ```
    /// use buttress_core::{BoxError, Reason, Rejected};
    ///
    /// let err: BoxError = Rejected::new(Reason::RateLimited).into();
    /// assert_eq!(Rejected::find(&*err).map(Rejected::reason), Some(Reason::RateLimited));
    ///
    /// let other: BoxError = "connection reset".into();
    /// assert!(Rejected::find(&*other).is_none());
    /// ```
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Rejected> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(rejected) = err.downcast_ref::<Rejected>() {
                return Some(rejected);
            }
            current = err.source();
        }
        None
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl Error for Rejected {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxError;

    #[derive(Debug)]
    struct Wrapper(BoxError);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn find_walks_the_source_chain() {
        let inner: BoxError = Rejected::new(Reason::Shed).into();
        let outer: BoxError = Box::new(Wrapper(Box::new(Wrapper(inner))));
        assert_eq!(
            Rejected::find(&*outer).map(Rejected::reason),
            Some(Reason::Shed)
        );
    }

    #[test]
    fn display_is_lower_case() {
        for reason in Reason::ALL {
            let text = Rejected::new(reason).to_string();
            assert_eq!(text, text.to_lowercase());
            assert!(!text.is_empty());
        }
    }

    #[test]
    fn index_matches_all() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }
}
