//! gRPC status codes, without a dependency on tonic.
//!
//! Classifiers read `grpc-status` and the edge writes it; neither needs a
//! gRPC framework, so the codes live here as a plain enum.

use std::fmt;

use http::{HeaderMap, HeaderName, StatusCode};

/// The `grpc-status` header (or trailer) name.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// Whether a request or response is gRPC: its `content-type` starts with
/// `application/grpc` (`+proto`, `+json` and the like included).
///
/// ```
/// use buttress_core::grpc::is_grpc;
/// use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
///
/// let mut headers = HeaderMap::new();
/// assert!(!is_grpc(&headers));
/// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
/// assert!(is_grpc(&headers));
/// ```
#[inline]
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(is_grpc_content_type)
}

/// Whether a `content-type` value names gRPC (`application/grpc`, with or
/// without a `+format` suffix), as [`is_grpc`] judges a request's first
/// value.
///
/// ```
/// use buttress_core::grpc::is_grpc_content_type;
/// use http::HeaderValue;
///
/// assert!(is_grpc_content_type(&HeaderValue::from_static("application/grpc+proto")));
/// assert!(!is_grpc_content_type(&HeaderValue::from_static("application/json")));
/// ```
#[inline]
pub fn is_grpc_content_type(value: &http::HeaderValue) -> bool {
    value.as_bytes().starts_with(b"application/grpc")
}

/// The `grpc-message` header (or trailer) name.
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// A gRPC status code, as carried by `grpc-status`.
///
/// ```
/// use buttress_core::GrpcCode;
///
/// assert_eq!(GrpcCode::from_bytes(b"14"), Some(GrpcCode::Unavailable));
/// assert_eq!(GrpcCode::Unavailable.as_u8(), 14);
/// assert_eq!(GrpcCode::from_bytes(b"017"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the names are the gRPC specification's own
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    const BY_VALUE: [GrpcCode; 17] = [
        GrpcCode::Ok,
        GrpcCode::Cancelled,
        GrpcCode::Unknown,
        GrpcCode::InvalidArgument,
        GrpcCode::DeadlineExceeded,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
        GrpcCode::Unauthenticated,
    ];

    /// The code for a numeric value, if it is one of the 17 defined codes.
    pub const fn from_u8(value: u8) -> Option<GrpcCode> {
        if (value as usize) < Self::BY_VALUE.len() {
            Some(Self::BY_VALUE[value as usize])
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Parses a `grpc-status` value strictly: one or two ASCII digits, no
    /// sign, no padding beyond what the wire format allows.
    pub fn from_bytes(bytes: &[u8]) -> Option<GrpcCode> {
        match *bytes {
            [d] if d.is_ascii_digit() => Self::from_u8(d - b'0'),
            [b'1', d] if d.is_ascii_digit() => Self::from_u8(10 + d - b'0'),
            _ => None,
        }
    }

    /// Reads `grpc-status` from a header map (the head of a trailers-only
    /// answer, or the trailers of a streamed one). `None` when absent or
    /// malformed.
    pub fn from_headers(headers: &HeaderMap) -> Option<GrpcCode> {
        headers
            .get(&GRPC_STATUS)
            .and_then(|value| Self::from_bytes(value.as_bytes()))
    }

    /// The code a gRPC client infers from a non-200 HTTP status, per the
    /// gRPC "HTTP to gRPC status code mapping".
    pub fn from_http_status(status: StatusCode) -> GrpcCode {
        match status.as_u16() {
            200 => GrpcCode::Ok,
            400 => GrpcCode::Internal,
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::Unimplemented,
            429 | 502..=504 => GrpcCode::Unavailable,
            _ => GrpcCode::Unknown,
        }
    }

    /// The decimal value as text, for writing `grpc-status` without
    /// formatting.
    pub const fn as_str(self) -> &'static str {
        const TEXT: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        TEXT[self as usize]
    }

    /// The specification's `SCREAMING_SNAKE_CASE` name.
    pub const fn name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "OK",
            GrpcCode::Cancelled => "CANCELLED",
            GrpcCode::Unknown => "UNKNOWN",
            GrpcCode::InvalidArgument => "INVALID_ARGUMENT",
            GrpcCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            GrpcCode::NotFound => "NOT_FOUND",
            GrpcCode::AlreadyExists => "ALREADY_EXISTS",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcCode::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcCode::Aborted => "ABORTED",
            GrpcCode::OutOfRange => "OUT_OF_RANGE",
            GrpcCode::Unimplemented => "UNIMPLEMENTED",
            GrpcCode::Internal => "INTERNAL",
            GrpcCode::Unavailable => "UNAVAILABLE",
            GrpcCode::DataLoss => "DATA_LOSS",
            GrpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_code_and_nothing_else() {
        for value in 0..=16u8 {
            let code = GrpcCode::from_u8(value).unwrap();
            assert_eq!(GrpcCode::from_bytes(code.as_str().as_bytes()), Some(code));
            assert_eq!(code.as_u8(), value);
        }
        for bad in [
            &b""[..],
            b"17",
            b"-1",
            b"+1",
            b"01",
            b"1 ",
            b"x",
            b"140",
            b"99",
        ] {
            assert_eq!(GrpcCode::from_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_status_mapping() {
        assert_eq!(
            GrpcCode::from_http_status(StatusCode::SERVICE_UNAVAILABLE),
            GrpcCode::Unavailable
        );
        assert_eq!(
            GrpcCode::from_http_status(StatusCode::NOT_FOUND),
            GrpcCode::Unimplemented
        );
        assert_eq!(
            GrpcCode::from_http_status(StatusCode::IM_A_TEAPOT),
            GrpcCode::Unknown
        );
    }
}
