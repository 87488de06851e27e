//! The bounded label values of RED metrics, as indexes, and the
//! `error.type` each combination gets.

use buttress_core::{GrpcCode, Outcome, Reason};
use http::{Method, StatusCode};

/// Methods with a label of their own — RFC 9110's, PATCH and QUERY, the
/// ones OpenTelemetry calls known; anything else is `_OTHER` (a client
/// could send any token as a method).
pub(super) const METHODS: [&str; 11] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "QUERY",
    "_OTHER",
];

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
        _ if method.as_str() == "QUERY" => 9,
        _ => 10,
    }
}

/// What a request is, as far as its labels go: gRPC or HTTP (with its
/// method), over `http` or `https`. One index per combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape(u8);

impl Shape {
    /// Every HTTP method over both schemes, then gRPC over both.
    pub(super) const COUNT: usize = (METHODS.len() + 1) * 2;

    pub(super) fn http(method: usize, https: bool) -> Shape {
        Shape((method * 2 + usize::from(https)) as u8)
    }

    pub(super) fn grpc(https: bool) -> Shape {
        Shape::http(METHODS.len(), https)
    }

    pub(super) fn index(self) -> usize {
        usize::from(self.0)
    }

    pub(super) fn is_grpc(self) -> bool {
        self.index() / 2 == METHODS.len()
    }

    pub(super) fn method(self) -> &'static str {
        METHODS[(self.index() / 2).min(METHODS.len() - 1)]
    }

    pub(super) fn scheme(self) -> &'static str {
        if self.https() { "https" } else { "http" }
    }

    pub(super) fn https(self) -> bool {
        self.0 % 2 == 1
    }
}

/// The status an answer carried, if any: an HTTP status (100 to 599,
/// the classes RFC 9110 defines; anything else counts as none) for an
/// HTTP request, a gRPC status for a gRPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    None,
    Http(u16),
    Grpc(GrpcCode),
}

impl Status {
    /// The answer's status for the label: `None` beyond 1xx–5xx.
    pub(super) fn http(status: StatusCode) -> Status {
        match status.as_u16() {
            code @ 100..=599 => Status::Http(code),
            _ => Status::None,
        }
    }

    /// How many statuses share a first index (see [`index`](Self::index)).
    pub(super) fn group_len(grpc: bool, group: usize) -> usize {
        match (grpc, group) {
            (_, 0) => 1,
            (true, _) => 17,
            (false, _) => 100,
        }
    }

    /// Two indexes: a group (0 for none; an HTTP class 1 to 5; 1 for
    /// every gRPC code) and the place in it.
    pub(super) fn index(self) -> (usize, usize) {
        match self {
            Status::None => (0, 0),
            Status::Http(code) => (usize::from(code / 100), usize::from(code % 100)),
            Status::Grpc(code) => (1, usize::from(code.as_u8())),
        }
    }
}

/// How a request ended, for the `buttress.outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RedOutcome {
    Success,
    Failure,
    Cancelled,
    /// A fallback layer answered in place of the real answer.
    Fallback,
    Rejected(Reason),
}

/// `success`, `failure`, `cancelled`, `fallback`, then `rejected` once
/// per reason.
pub(super) const OUTCOMES: usize = 4 + Reason::ALL.len();

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
            RedOutcome::Fallback => 3,
            RedOutcome::Rejected(reason) => 4 + reason.index(),
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            RedOutcome::Success => "success",
            RedOutcome::Failure => "failure",
            RedOutcome::Cancelled => "cancelled",
            RedOutcome::Fallback => "fallback",
            RedOutcome::Rejected(_) => "rejected",
        }
    }
}

/// The gRPC codes a server counts as errors (OpenTelemetry's gRPC
/// conventions); a client counts every code but `OK`.
const GRPC_SERVER_ERRORS: [GrpcCode; 6] = [
    GrpcCode::Unknown,
    GrpcCode::DeadlineExceeded,
    GrpcCode::Unimplemented,
    GrpcCode::Internal,
    GrpcCode::Unavailable,
    GrpcCode::DataLoss,
];

/// The `error.type` of a request, `None` if it did not fail: the
/// rejection's reason, `cancelled`, the status if it is an error for
/// this side (HTTP: 5xx on a server, 4xx and 5xx on a client; gRPC: see
/// [`GRPC_SERVER_ERRORS`]), else `_OTHER` for any other failure.
pub(super) fn error_type(client: bool, status: Status, outcome: RedOutcome) -> Option<String> {
    match outcome {
        RedOutcome::Rejected(reason) => return Some(reason.as_str().to_owned()),
        RedOutcome::Cancelled => return Some("cancelled".to_owned()),
        _ => {}
    }
    let status_error = match status {
        Status::Http(code) if code >= 500 || (client && code >= 400) => Some(code.to_string()),
        Status::Grpc(code)
            if code != GrpcCode::Ok && (client || GRPC_SERVER_ERRORS.contains(&code)) =>
        {
            Some(code.name().to_owned())
        }
        _ => None,
    };
    status_error.or_else(|| (outcome == RedOutcome::Failure).then(|| "_OTHER".to_owned()))
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
            RedOutcome::Fallback,
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
        let query = Method::from_bytes(b"QUERY").unwrap();
        assert_eq!(METHODS[method_index(&query)], "QUERY");
    }

    #[test]
    fn shapes_are_dense_and_read_back() {
        let mut seen = vec![false; Shape::COUNT];
        for https in [false, true] {
            for (method, name) in METHODS.iter().enumerate() {
                let shape = Shape::http(method, https);
                assert!(!shape.is_grpc());
                assert_eq!(shape.method(), *name);
                assert_eq!(shape.https(), https);
                seen[shape.index()] = true;
            }
            let grpc = Shape::grpc(https);
            assert!(grpc.is_grpc() && grpc.https() == https);
            seen[grpc.index()] = true;
        }
        assert!(seen.into_iter().all(|s| s));
    }

    #[test]
    fn error_types_follow_the_side() {
        let ok = RedOutcome::Success;
        assert_eq!(error_type(false, Status::Http(404), ok), None);
        assert_eq!(error_type(true, Status::Http(404), ok).unwrap(), "404");
        assert_eq!(
            error_type(false, Status::Http(503), RedOutcome::Failure).unwrap(),
            "503"
        );
        assert_eq!(
            error_type(
                false,
                Status::Http(429),
                RedOutcome::Rejected(Reason::RateLimited)
            )
            .unwrap(),
            "rate_limited"
        );
        assert_eq!(
            error_type(true, Status::None, RedOutcome::Failure).unwrap(),
            "_OTHER"
        );
        assert_eq!(
            error_type(false, Status::Grpc(GrpcCode::NotFound), ok),
            None
        );
        assert_eq!(
            error_type(true, Status::Grpc(GrpcCode::NotFound), ok).unwrap(),
            "NOT_FOUND"
        );
        assert_eq!(
            error_type(
                false,
                Status::Grpc(GrpcCode::Unavailable),
                RedOutcome::Failure
            )
            .unwrap(),
            "UNAVAILABLE"
        );
        assert_eq!(
            error_type(true, Status::Http(200), RedOutcome::Fallback),
            None
        );
    }
}
