//! The gRPC classifier.

use std::error::Error;

use http::{HeaderMap, StatusCode};

use super::{Classify, Outcome, classify_error};
use crate::access::ResponseAccess;
use crate::grpc::GrpcCode;

/// A set of gRPC status codes, as a 17-bit mask.
///
/// ```
/// use buttress_core::GrpcCode;
/// use buttress_core::classify::GrpcCodeSet;
///
/// let set = GrpcCodeSet::empty().with(GrpcCode::Unavailable);
/// assert!(set.contains(GrpcCode::Unavailable));
/// assert!(!set.contains(GrpcCode::NotFound));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcCodeSet {
    bits: u32,
}

impl GrpcCodeSet {
    /// No code.
    pub const fn empty() -> Self {
        GrpcCodeSet { bits: 0 }
    }

    /// Adds `code`.
    pub const fn with(mut self, code: GrpcCode) -> Self {
        self.bits |= 1 << code.as_u8();
        self
    }

    /// Removes `code`.
    pub const fn without(mut self, code: GrpcCode) -> Self {
        self.bits &= !(1 << code.as_u8());
        self
    }

    /// Whether `code` is in the set.
    pub const fn contains(&self, code: GrpcCode) -> bool {
        self.bits & (1 << code.as_u8()) != 0
    }
}

/// Judges gRPC answers by their `grpc-status`.
///
/// By default UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, DATA_LOSS
/// and RESOURCE_EXHAUSTED fail: they say the server could not do the work.
/// Codes such as NOT_FOUND or INVALID_ARGUMENT are the caller's business
/// and succeed.
///
/// A trailers-only answer (an error, usually) carries `grpc-status` in its
/// headers and is judged at once. A streamed answer carries it in the
/// trailers: [`classify`](Classify::classify) then returns a provisional
/// [`Outcome::Success`] and [`awaits_trailers`](Self::awaits_trailers) says
/// so; wrap the body in a [`GrpcStatusBody`](super::GrpcStatusBody) to get
/// the final verdict when the trailers arrive.
///
/// ```
/// use buttress_core::classify::{Classify, GrpcClassifier, Outcome};
///
/// let classifier = GrpcClassifier::default();
/// let unavailable = http::Response::builder()
///     .header("content-type", "application/grpc")
///     .header("grpc-status", "14")
///     .body(())
///     .unwrap();
/// assert_eq!(classifier.classify(Ok(&unavailable)), Outcome::Failure);
/// assert!(!classifier.awaits_trailers(&unavailable));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcClassifier {
    failing: GrpcCodeSet,
}

impl GrpcClassifier {
    /// The default failing codes: those that blame the server or the path
    /// to it, not the caller (ARCHITECTURE.md, rule 6 "One notion of
    /// failure").
    pub const DEFAULT_FAILING: GrpcCodeSet = GrpcCodeSet::empty()
        .with(GrpcCode::Unavailable)
        .with(GrpcCode::DeadlineExceeded)
        .with(GrpcCode::Internal)
        .with(GrpcCode::Unknown)
        .with(GrpcCode::DataLoss)
        .with(GrpcCode::ResourceExhausted);

    /// The default classifier.
    pub const fn new() -> Self {
        GrpcClassifier {
            failing: Self::DEFAULT_FAILING,
        }
    }

    /// A classifier failing exactly the codes in `failing`.
    pub const fn with_failing(failing: GrpcCodeSet) -> Self {
        GrpcClassifier { failing }
    }

    /// Also treat `code` as a failure.
    pub const fn failing(mut self, code: GrpcCode) -> Self {
        self.failing = self.failing.with(code);
        self
    }

    /// Treat `code` as a success.
    pub const fn succeeding(mut self, code: GrpcCode) -> Self {
        self.failing = self.failing.without(code);
        self
    }

    /// Judges one code.
    pub const fn classify_code(&self, code: GrpcCode) -> Outcome {
        if self.failing.contains(code) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// Judges the trailers that end a streamed answer (`None` when the
    /// stream ended without any). A missing or malformed `grpc-status` is a
    /// protocol error, which clients report as UNKNOWN.
    pub fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Outcome {
        let code = trailers
            .and_then(GrpcCode::from_headers)
            .unwrap_or(GrpcCode::Unknown);
        self.classify_code(code)
    }

    /// Whether the verdict on `response` waits for its trailers: a 200
    /// answer whose headers carry no `grpc-status`.
    pub fn awaits_trailers<R: ResponseAccess>(&self, response: &R) -> bool {
        response.status() == StatusCode::OK
            && !response.headers().contains_key(&crate::grpc::GRPC_STATUS)
    }

    fn head_code<R: ResponseAccess>(response: &R) -> Option<GrpcCode> {
        if response.status() != StatusCode::OK {
            // A proxy or a server that is not gRPC answered: the client maps
            // the HTTP status to a code.
            return Some(GrpcCode::from_http_status(response.status()));
        }
        // A malformed status is a protocol error: clients report UNKNOWN.
        response
            .headers()
            .get(&crate::grpc::GRPC_STATUS)
            .map(|value| GrpcCode::from_bytes(value.as_bytes()).unwrap_or(GrpcCode::Unknown))
    }
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: ResponseAccess> Classify<R> for GrpcClassifier {
    fn classify(&self, result: Result<&R, &(dyn Error + 'static)>) -> Outcome {
        match result {
            Ok(res) => match Self::head_code(res) {
                Some(code) => self.classify_code(code),
                // Provisional: the trailers decide (see `awaits_trailers`).
                None => Outcome::Success,
            },
            Err(err) => classify_error(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc(status: Option<&str>) -> http::Response<()> {
        let mut builder = http::Response::builder().header("content-type", "application/grpc");
        if let Some(status) = status {
            builder = builder.header("grpc-status", status);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn default_failing_codes() {
        let c = GrpcClassifier::default();
        for code in ["14", "4", "13", "2", "15", "8"] {
            assert_eq!(
                c.classify(Ok(&grpc(Some(code)))),
                Outcome::Failure,
                "{code}"
            );
        }
        for code in ["0", "1", "3", "5", "6", "7", "9", "10", "11", "12", "16"] {
            assert_eq!(
                c.classify(Ok(&grpc(Some(code)))),
                Outcome::Success,
                "{code}"
            );
        }
    }

    #[test]
    fn malformed_status_is_unknown_and_fails() {
        let c = GrpcClassifier::default();
        assert_eq!(c.classify(Ok(&grpc(Some("abc")))), Outcome::Failure);
        assert_eq!(c.classify(Ok(&grpc(Some("99")))), Outcome::Failure);
    }

    #[test]
    fn streamed_answer_waits_for_trailers() {
        let c = GrpcClassifier::default();
        let res = grpc(None);
        assert!(c.awaits_trailers(&res));
        assert_eq!(c.classify(Ok(&res)), Outcome::Success);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Failure);
        trailers.insert("grpc-status", "0".parse().unwrap());
        assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Success);
        assert_eq!(c.classify_trailers(None), Outcome::Failure);
    }

    #[test]
    fn non_200_maps_through_http_status() {
        let c = GrpcClassifier::default();
        let res = http::Response::builder().status(503).body(()).unwrap();
        assert!(!c.awaits_trailers(&res));
        assert_eq!(c.classify(Ok(&res)), Outcome::Failure);
        let res = http::Response::builder().status(404).body(()).unwrap();
        assert_eq!(c.classify(Ok(&res)), Outcome::Success); // UNIMPLEMENTED
    }

    #[test]
    fn configurable() {
        let c = GrpcClassifier::default()
            .succeeding(GrpcCode::ResourceExhausted)
            .failing(GrpcCode::Aborted);
        assert_eq!(c.classify(Ok(&grpc(Some("8")))), Outcome::Success);
        assert_eq!(c.classify(Ok(&grpc(Some("10")))), Outcome::Failure);
    }
}
