//! The HTTP classifier.

use std::error::Error;
use std::ops::RangeInclusive;

use super::{Classify, Outcome, classify_error};
use crate::access::ResponseAccess;

/// A set of HTTP error statuses (400 to 599), stored as a bitmap so that
/// a lookup is one shift and mask, and small enough (32 bytes) that a
/// layer can copy its classifier into every response future.
///
/// Only 4xx and 5xx statuses can be in the set: a 1xx, 2xx or 3xx answer
/// is never a dependency's failure, and statuses past 599 are not HTTP's.
///
/// ```
/// use buttress_core::classify::StatusSet;
///
/// let set = StatusSet::empty().with_range(500..=599).with(429);
/// assert!(set.contains(503) && set.contains(429));
/// assert!(!set.contains(404));
/// assert!(!StatusSet::empty().with(302).contains(302)); // not an error status
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSet {
    /// Bit `n` stands for status `400 + n`.
    bits: [u64; 4],
}

impl StatusSet {
    const FIRST: u16 = 400;
    const LAST: u16 = 599;

    /// No status at all.
    pub const fn empty() -> Self {
        StatusSet { bits: [0; 4] }
    }

    /// Adds one status. Statuses outside 400..=599 are ignored: they are
    /// never failures.
    pub const fn with(mut self, status: u16) -> Self {
        if status >= Self::FIRST && status <= Self::LAST {
            let n = status - Self::FIRST;
            self.bits[(n / 64) as usize] |= 1 << (n % 64);
        }
        self
    }

    /// Removes one status.
    pub const fn without(mut self, status: u16) -> Self {
        if status >= Self::FIRST && status <= Self::LAST {
            let n = status - Self::FIRST;
            self.bits[(n / 64) as usize] &= !(1 << (n % 64));
        }
        self
    }

    /// Adds every status in `range` (those in 400..=599). A `const fn`, so
    /// a default set is built at compile time, not per call.
    pub const fn with_range(mut self, range: RangeInclusive<u16>) -> Self {
        let (mut status, end) = (*range.start(), *range.end());
        while status <= end {
            self = self.with(status);
            if status == u16::MAX {
                break;
            }
            status += 1;
        }
        self
    }

    /// Whether `status` is in the set.
    pub const fn contains(&self, status: u16) -> bool {
        if status < Self::FIRST || status > Self::LAST {
            return false;
        }
        let n = status - Self::FIRST;
        self.bits[(n / 64) as usize] & (1 << (n % 64)) != 0
    }
}

/// Judges HTTP answers: by default 5xx and 429 fail, every other status
/// succeeds, and errors fail unless they are local rejections.
///
/// 4xx other than 429 succeed because they are the caller's fault: a
/// breaker must not open on a flood of bad requests. 429 fails because it
/// is the dependency saying it is overloaded.
///
/// ```
/// use buttress_core::classify::{Classify, HttpClassifier, Outcome};
///
/// // A dependency that answers 408 when it is struggling.
/// let classifier = HttpClassifier::default().failing(408);
/// let res = http::Response::builder().status(408).body(()).unwrap();
/// assert_eq!(classifier.classify(Ok(&res)), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClassifier {
    failing: StatusSet,
}

impl HttpClassifier {
    /// The default classifier: 500–599 and 429 fail.
    pub const fn new() -> Self {
        HttpClassifier {
            failing: StatusSet::empty().with_range(500..=599).with(429),
        }
    }

    /// A classifier failing exactly the statuses in `failing`.
    pub const fn with_failing(failing: StatusSet) -> Self {
        HttpClassifier { failing }
    }

    /// Also treat `status` as a failure.
    pub const fn failing(mut self, status: u16) -> Self {
        self.failing = self.failing.with(status);
        self
    }

    /// Treat `status` as a success (e.g. 501 from a dependency that never
    /// implements a method).
    pub const fn succeeding(mut self, status: u16) -> Self {
        self.failing = self.failing.without(status);
        self
    }

    /// The statuses judged as failures.
    pub const fn failing_statuses(&self) -> StatusSet {
        self.failing
    }

    /// Judges a status code alone.
    pub const fn classify_status(&self, status: http::StatusCode) -> Outcome {
        if self.failing.contains(status.as_u16()) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: ResponseAccess> Classify<R> for HttpClassifier {
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        match result {
            Ok(res) => self.classify_status(res.status()),
            Err(err) => classify_error(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxError, Reason, Rejected};

    fn status(code: u16) -> http::Response<()> {
        http::Response::builder().status(code).body(()).unwrap()
    }

    #[test]
    fn defaults() {
        let c = HttpClassifier::default();
        for code in [500, 502, 503, 504, 599, 429] {
            assert_eq!(c.classify(Ok(&status(code))), Outcome::Failure, "{code}");
        }
        for code in [200, 204, 301, 400, 401, 404, 409, 499, 600] {
            assert_eq!(c.classify(Ok(&status(code))), Outcome::Success, "{code}");
        }
        let transport: BoxError = "connection refused".into();
        assert_eq!(
            Classify::<http::Response<()>>::classify(&c, Err(&*transport)),
            Outcome::Failure
        );
        let local: BoxError = Rejected::new(Reason::CircuitOpen).into();
        assert_eq!(
            Classify::<http::Response<()>>::classify(&c, Err(&*local)),
            Outcome::Ignored
        );
    }

    #[test]
    fn configurable() {
        let c = HttpClassifier::default().failing(408).succeeding(501);
        assert_eq!(c.classify(Ok(&status(408))), Outcome::Failure);
        assert_eq!(c.classify(Ok(&status(501))), Outcome::Success);
        assert_eq!(c.classify(Ok(&status(500))), Outcome::Failure);
    }

    #[test]
    fn status_set_bounds() {
        let set = StatusSet::empty()
            .with(99)
            .with(1000)
            .with(200)
            .with(400)
            .with(599)
            .with(600);
        assert!(set.contains(400) && set.contains(599));
        for other in [99, 200, 399, 600, 1000, u16::MAX] {
            assert!(!set.contains(other), "{other}");
        }
        assert_eq!(std::mem::size_of::<HttpClassifier>(), 32);
    }
}
