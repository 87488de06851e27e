//! The bounded label values of RED metrics, as indexes.

use buttress_core::{Outcome, Reason};
use http::{Method, StatusCode};

/// Methods with a label of their own; anything else is `_OTHER`, as
/// OpenTelemetry prescribes (a client could send any token as a method).
pub(super) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];

pub(super) const STATUS_CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// `success`, `failure`, `cancelled`, then `rejected` once per reason.
pub(super) const OUTCOMES: usize = 3 + Reason::ALL.len();

pub(super) fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

pub(super) fn status_class_index(status: Option<StatusCode>) -> usize {
    match status.map(|s| s.as_u16() / 100) {
        Some(class @ 1..=5) => class as usize,
        _ => 0,
    }
}

/// How a request ended, for the `buttress.outcome` and `buttress.reason`
/// labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RedOutcome {
    Success,
    Failure,
    Cancelled,
    Rejected(Reason),
}

impl RedOutcome {
    pub(super) fn from_outcome(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success | Outcome::Ignored => RedOutcome::Success,
            Outcome::Failure => RedOutcome::Failure,
            Outcome::Cancelled => RedOutcome::Cancelled,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            RedOutcome::Success => 0,
            RedOutcome::Failure => 1,
            RedOutcome::Cancelled => 2,
            RedOutcome::Rejected(reason) => 3 + reason.index(),
        }
    }

    pub(super) fn labels(self) -> (&'static str, &'static str) {
        match self {
            RedOutcome::Success => ("success", "none"),
            RedOutcome::Failure => ("failure", "none"),
            RedOutcome::Cancelled => ("cancelled", "none"),
            RedOutcome::Rejected(reason) => ("rejected", reason.as_str()),
        }
    }

    pub(super) fn is_error(self) -> bool {
        self != RedOutcome::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_indexes_are_dense_and_distinct() {
        let mut all = vec![
            RedOutcome::Success,
            RedOutcome::Failure,
            RedOutcome::Cancelled,
        ];
        all.extend(Reason::ALL.map(RedOutcome::Rejected));
        let mut indexes: Vec<usize> = all.iter().map(|o| o.index()).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, (0..OUTCOMES).collect::<Vec<_>>());
    }

    #[test]
    fn unknown_methods_fold_into_other() {
        let odd = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(METHODS[method_index(&odd)], "_OTHER");
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
    }
}
