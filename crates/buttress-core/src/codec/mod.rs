//! Strict, bounded codecs for the protocol headers that steer resilience
//! decisions: HTTP `Retry-After`, gRPC `grpc-timeout` and gRPC
//! `grpc-retry-pushback-ms`.
//!
//! These values arrive from peers we do not control, and each one changes
//! how long we wait, how long we keep working or whether we try again. A
//! lenient parser turns a malformed or hostile header into behaviour — a
//! retry storm, a deadline of years, an idle worker — so every parser here:
//!
//! - reads bytes, not strings, and caps the input length before looking at
//!   it, so the cost of rejecting garbage is bounded;
//! - accepts only the grammar its specification allows (no signs, no
//!   fractions, no inner whitespace) and reports *why* it refused, so the
//!   caller can fall back on its own policy;
//! - bounds the value it returns, never overflows and never panics;
//! - allocates nothing on success.
//!
//! Each parser has an encoder for the other direction. Encoders round
//! *up*: a peer told to wait must never come back before we are ready, nor
//! be given less time than it actually has left.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use buttress_core::codec::{parse_retry_after, retry_after_value, CodecError};
//!
//! let value = retry_after_value(Duration::from_millis(1_500));
//! assert_eq!(value, "2");
//! assert_eq!(parse_retry_after(&value, SystemTime::now()), Ok(Duration::from_secs(2)));
//!
//! let bogus = http::HeaderValue::from_static("-5");
//! assert_eq!(parse_retry_after(&bogus, SystemTime::now()), Err(CodecError::Invalid));
//! ```

use std::fmt;

use http::HeaderName;

mod grpc_timeout;
mod pushback;
mod retry_after;

pub use grpc_timeout::{grpc_timeout_value, parse_grpc_timeout};
pub use pushback::{Pushback, parse_pushback, pushback_value};
pub use retry_after::{MAX_RETRY_AFTER, parse_retry_after, retry_after_date, retry_after_value};

/// The HTTP `Retry-After` header name (RFC 9110 §10.2.3).
///
/// ```
/// assert_eq!(buttress_core::codec::RETRY_AFTER.as_str(), "retry-after");
/// ```
pub const RETRY_AFTER: HeaderName = http::header::RETRY_AFTER;

/// The gRPC `grpc-timeout` header name, carrying the caller's deadline.
///
/// ```
/// assert_eq!(buttress_core::codec::GRPC_TIMEOUT.as_str(), "grpc-timeout");
/// ```
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The gRPC `grpc-retry-pushback-ms` trailer name (gRPC proposal A6).
///
/// ```
/// assert_eq!(
///     buttress_core::codec::GRPC_RETRY_PUSHBACK_MS.as_str(),
///     "grpc-retry-pushback-ms",
/// );
/// ```
pub const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// Why a header value was refused.
///
/// The variants are deliberately coarse: a caller reacts the same way to
/// every refusal (ignore the header and use its own policy), and the kind
/// is there for metrics and logs.
///
/// ```
/// use buttress_core::codec::{parse_grpc_timeout, CodecError};
///
/// let err = parse_grpc_timeout(&http::HeaderValue::from_static("")).unwrap_err();
/// assert_eq!(err, CodecError::Empty);
/// assert_eq!(err.to_string(), "empty header value");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// The value was empty (or only whitespace where whitespace is allowed).
    Empty,
    /// The value, or its numeric part, was longer than the codec accepts.
    TooLong,
    /// The value did not match the header's grammar.
    Invalid,
    /// The value named a time at or before now.
    InPast,
    /// The value was well formed but larger than the codec's bound.
    OutOfRange,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty header value",
            Self::TooLong => "header value too long",
            Self::Invalid => "invalid header value",
            Self::InPast => "header value names a time in the past",
            Self::OutOfRange => "header value out of range",
        })
    }
}

impl std::error::Error for CodecError {}

/// Parses a run of ASCII digits that the caller has already bounded to at
/// most 19 digits, so the sum cannot overflow a `u64`.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Builds a header value from bytes the encoders produced themselves (ASCII
/// digits, letters, spaces, commas and colons), which `http` always accepts.
fn ascii_value(bytes: &[u8]) -> http::HeaderValue {
    http::HeaderValue::from_bytes(bytes)
        .expect("encoders only emit visible ASCII, which is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lower_case_and_distinct() {
        let all = [
            CodecError::Empty,
            CodecError::TooLong,
            CodecError::Invalid,
            CodecError::InPast,
            CodecError::OutOfRange,
        ];
        for (i, a) in all.iter().enumerate() {
            let text = a.to_string();
            assert_eq!(text, text.to_lowercase());
            for b in &all[i + 1..] {
                assert_ne!(text, b.to_string());
            }
        }
    }

    #[test]
    fn header_names_are_lower_case_constants() {
        assert_eq!(RETRY_AFTER, "retry-after");
        assert_eq!(GRPC_TIMEOUT, "grpc-timeout");
        assert_eq!(GRPC_RETRY_PUSHBACK_MS, "grpc-retry-pushback-ms");
    }

    #[test]
    fn parse_digits_rejects_non_digits_and_overflow() {
        assert_eq!(parse_digits(b""), None);
        assert_eq!(parse_digits(b"12a"), None);
        assert_eq!(parse_digits(b"+1"), None);
        assert_eq!(parse_digits(b"0007"), Some(7));
        assert_eq!(
            parse_digits(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_digits(b"99999999999999999999"), None);
    }
}
