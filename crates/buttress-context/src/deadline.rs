//! The caller's remaining time, as it crosses a hop.
//!
//! gRPC carries it in `grpc-timeout` (core's codec parses and writes it);
//! plain HTTP has no standard header, so this crate uses a configurable one
//! carrying whole milliseconds, `x-request-timeout-ms` by default. Both
//! are read only from trusted callers and capped by the server's own
//! limit: a caller may shorten the time a request has, never extend it
//! past what the server allows.
//!
//! Outbound, the remaining time is written *rounded down* to the
//! millisecond (the callee must finish before we give up, not after) and
//! less a margin for the trip back; when nothing is left the call is
//! refused before it is sent.
//!
//! ```
//! use buttress_context::deadline::{parse_timeout_ms, timeout_ms_value};
//! use http::HeaderValue;
//! use std::time::Duration;
//!
//! assert_eq!(parse_timeout_ms(&HeaderValue::from_static("250")), Ok(Duration::from_millis(250)));
//! assert!(parse_timeout_ms(&HeaderValue::from_static("-1")).is_err());
//! assert_eq!(timeout_ms_value(Duration::from_micros(99_900)), "99");
//! ```

use std::time::Duration;

use buttress_core::codec::{CodecError, parse_grpc_timeout};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::GRPC_TIMEOUT;

/// At most ten digits: about 115 days, more than any deadline needs.
const MAX_DIGITS: usize = 10;

/// Parses a milliseconds timeout header: 1 to 10 ASCII digits, nothing
/// else (no sign, no space, no unit).
pub fn parse_timeout_ms(value: &HeaderValue) -> Result<Duration, CodecError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    if bytes.len() > MAX_DIGITS {
        return Err(CodecError::TooLong);
    }
    let mut millis = 0u64;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return Err(CodecError::Invalid);
        }
        millis = millis * 10 + u64::from(b - b'0');
    }
    Ok(Duration::from_millis(millis))
}

/// Writes `timeout` as whole milliseconds, rounded down but at least 1
/// for a timeout above zero (zero would read as "already expired").
pub fn timeout_ms_value(timeout: Duration) -> HeaderValue {
    let millis = timeout.as_millis().max(u128::from(!timeout.is_zero()));
    let mut rest = u64::try_from(millis).unwrap_or(u64::MAX).min(9_999_999_999);
    // Digits right to left into a stack buffer, then one exact-size copy:
    // `HeaderValue::from(u64)` allocates twice (a buffer with spare room,
    // then a shared header for it).
    let mut digits = [0u8; MAX_DIGITS];
    let mut start = MAX_DIGITS;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    HeaderValue::from_bytes(&digits[start..]).expect("digits are a valid header value")
}

/// The timeout a caller sent: the smaller of a valid `grpc-timeout` and a
/// valid `http_header` (each present at most once); invalid values are
/// ignored.
pub fn inbound_timeout(headers: &HeaderMap, http_header: &HeaderName) -> Option<Duration> {
    timeout_of(single(headers, &GRPC_TIMEOUT), single(headers, http_header))
}

/// [`inbound_timeout`] from the values already found: each the header's
/// value if it appeared exactly once.
pub(crate) fn timeout_of(
    grpc: Option<&HeaderValue>,
    http: Option<&HeaderValue>,
) -> Option<Duration> {
    let grpc = grpc.and_then(|v| parse_grpc_timeout(v).ok());
    let http = http.and_then(|v| parse_timeout_ms(v).ok());
    match (grpc, http) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The value of `name` if it appears exactly once: a repeated timeout
/// header is ambiguous, and ambiguity is not honoured.
pub(crate) fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    all.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &'static str) -> Result<Duration, CodecError> {
        parse_timeout_ms(&HeaderValue::from_static(text))
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(ms("0"), Ok(Duration::ZERO));
        assert_eq!(ms("9999999999"), Ok(Duration::from_millis(9_999_999_999)));
        assert_eq!(ms(""), Err(CodecError::Empty));
        assert_eq!(ms("99999999999"), Err(CodecError::TooLong));
        for bad in ["+1", "-1", " 1", "1 ", "1.5", "1ms", "0x10"] {
            assert_eq!(ms(bad), Err(CodecError::Invalid), "{bad}");
        }
    }

    #[test]
    fn value_rounds_down_but_never_to_zero() {
        assert_eq!(timeout_ms_value(Duration::ZERO), "0");
        assert_eq!(timeout_ms_value(Duration::from_nanos(1)), "1");
        assert_eq!(timeout_ms_value(Duration::from_micros(1_999)), "1");
        assert_eq!(timeout_ms_value(Duration::MAX), "9999999999");
        for millis in [1, 9, 10, 99, 100, 12_345, 1_000_000_000, 9_999_999_999] {
            let value = timeout_ms_value(Duration::from_millis(millis));
            assert_eq!(value, HeaderValue::from(millis), "{millis}");
        }
    }

    #[test]
    fn inbound_takes_the_smaller_and_ignores_repeats() {
        let name = crate::headers::X_REQUEST_TIMEOUT_MS;
        let mut headers = HeaderMap::new();
        assert_eq!(inbound_timeout(&headers, &name), None);
        headers.insert(&name, HeaderValue::from_static("300"));
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("100m"));
        assert_eq!(
            inbound_timeout(&headers, &name),
            Some(Duration::from_millis(100))
        );
        headers.append(GRPC_TIMEOUT, HeaderValue::from_static("1m"));
        assert_eq!(
            inbound_timeout(&headers, &name),
            Some(Duration::from_millis(300))
        );
    }
}
