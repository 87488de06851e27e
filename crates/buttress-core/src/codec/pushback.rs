//! gRPC `grpc-retry-pushback-ms` (gRPC proposal A6, "gRPC Retry Design").

use std::time::Duration;

use http::HeaderValue;

use super::{MAX_RETRY_AFTER, parse_digits};

/// More digits than this are not a delay anyone means: ten digits of
/// milliseconds is already about 115 days.
const MAX_DIGITS: usize = 10;

/// What a server's `grpc-retry-pushback-ms` asks of the client.
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::{parse_pushback, Pushback};
/// use http::HeaderValue;
///
/// match parse_pushback(&HeaderValue::from_static("1500")) {
///     Pushback::RetryAfter(delay) => assert_eq!(delay, Duration::from_millis(1_500)),
///     Pushback::DoNotRetry => unreachable!(),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushback {
    /// Retry, but not before this delay has passed. The delay replaces the
    /// policy's own backoff for the next attempt; the policy's caps still
    /// apply.
    RetryAfter(Duration),
    /// Do not retry this call at all.
    DoNotRetry,
}

impl Pushback {
    /// Encodes this pushback as a `grpc-retry-pushback-ms` value:
    /// [`pushback_value`] for [`Pushback::RetryAfter`], and `-1` for
    /// [`Pushback::DoNotRetry`], since proposal A6 reads any negative value
    /// as "do not retry".
    ///
    /// ```
    /// use std::time::Duration;
    /// use buttress_core::codec::Pushback;
    ///
    /// assert_eq!(Pushback::DoNotRetry.to_header_value(), "-1");
    /// assert_eq!(Pushback::RetryAfter(Duration::from_millis(20)).to_header_value(), "20");
    /// ```
    pub fn to_header_value(self) -> HeaderValue {
        match self {
            Self::RetryAfter(delay) => pushback_value(delay),
            Self::DoNotRetry => HeaderValue::from_static("-1"),
        }
    }
}

/// Parses a `grpc-retry-pushback-ms` value.
///
/// A non-negative decimal integer of milliseconds (ASCII digits only, at
/// most 10) is [`Pushback::RetryAfter`]. Everything else — negative,
/// empty, overlong, signed with `+`, padded with whitespace, or otherwise
/// unparseable — is [`Pushback::DoNotRetry`]. That is not leniency but the
/// protocol: proposal A6 defines a negative or unparseable pushback as the
/// server asking the client not to retry, and refusing to retry is also
/// the safe reading of a value we do not understand.
///
/// The delay is returned as sent (bounded by the 10-digit cap); the retry
/// policy compares it with its own limits.
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::{parse_pushback, Pushback};
/// use http::HeaderValue;
///
/// assert_eq!(parse_pushback(&HeaderValue::from_static("0")), Pushback::RetryAfter(Duration::ZERO));
/// assert_eq!(parse_pushback(&HeaderValue::from_static("-1")), Pushback::DoNotRetry);
/// assert_eq!(parse_pushback(&HeaderValue::from_static("soon")), Pushback::DoNotRetry);
/// ```
pub fn parse_pushback(value: &HeaderValue) -> Pushback {
    let bytes = value.as_bytes();
    if bytes.len() > MAX_DIGITS {
        return Pushback::DoNotRetry;
    }
    match parse_digits(bytes) {
        Some(millis) => Pushback::RetryAfter(Duration::from_millis(millis)),
        None => Pushback::DoNotRetry,
    }
}

/// Encodes a delay as a `grpc-retry-pushback-ms` value.
///
/// The delay is rounded *up* to whole milliseconds, so a client never
/// returns before the server asked it to, and clamped to
/// [`MAX_RETRY_AFTER`], the longest delay Buttress ever tells a client
/// (and well within what [`parse_pushback`] accepts).
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::pushback_value;
///
/// assert_eq!(pushback_value(Duration::ZERO), "0");
/// assert_eq!(pushback_value(Duration::from_micros(1_500)), "2");
/// assert_eq!(pushback_value(Duration::MAX), "86400000");
/// ```
pub fn pushback_value(delay: Duration) -> HeaderValue {
    let millis = delay.min(MAX_RETRY_AFTER).as_nanos().div_ceil(1_000_000);
    // Clamped to 24 hours above, so the count always fits a `u64`.
    HeaderValue::from(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &'static str) -> Pushback {
        parse_pushback(&HeaderValue::from_static(s))
    }

    fn parse_bytes(b: &[u8]) -> Pushback {
        parse_pushback(&HeaderValue::from_bytes(b).unwrap())
    }

    fn after(millis: u64) -> Pushback {
        Pushback::RetryAfter(Duration::from_millis(millis))
    }

    #[test]
    fn non_negative_integers_retry_after() {
        assert_eq!(parse("0"), after(0));
        assert_eq!(parse("1"), after(1));
        assert_eq!(parse("1500"), after(1_500));
        assert_eq!(parse("0000000042"), after(42));
        assert_eq!(parse("9999999999"), after(9_999_999_999));
    }

    #[test]
    fn negative_means_do_not_retry() {
        assert_eq!(parse("-1"), Pushback::DoNotRetry);
        assert_eq!(parse("-5"), Pushback::DoNotRetry);
        assert_eq!(parse("-0"), Pushback::DoNotRetry);
        assert_eq!(parse("-9999999999"), Pushback::DoNotRetry);
    }

    #[test]
    fn empty_means_do_not_retry() {
        assert_eq!(parse(""), Pushback::DoNotRetry);
    }

    #[test]
    fn overlong_means_do_not_retry() {
        assert_eq!(parse("10000000000"), Pushback::DoNotRetry);
        assert_eq!(parse("00000000001"), Pushback::DoNotRetry);
        assert_eq!(parse("18446744073709551616"), Pushback::DoNotRetry);
        assert_eq!(parse_bytes(&[b'1'; 1_000]), Pushback::DoNotRetry);
    }

    #[test]
    fn unparseable_means_do_not_retry() {
        assert_eq!(parse("+5"), Pushback::DoNotRetry);
        assert_eq!(parse("1.5"), Pushback::DoNotRetry);
        assert_eq!(parse("5ms"), Pushback::DoNotRetry);
        assert_eq!(parse("0x10"), Pushback::DoNotRetry);
        assert_eq!(parse("1e3"), Pushback::DoNotRetry);
        assert_eq!(parse("soon"), Pushback::DoNotRetry);
    }

    #[test]
    fn whitespace_means_do_not_retry() {
        assert_eq!(parse(" 5"), Pushback::DoNotRetry);
        assert_eq!(parse("5 "), Pushback::DoNotRetry);
        assert_eq!(parse("5 0"), Pushback::DoNotRetry);
        assert_eq!(parse("\t5"), Pushback::DoNotRetry);
        assert_eq!(parse(" "), Pushback::DoNotRetry);
    }

    #[test]
    fn non_utf8_means_do_not_retry() {
        assert_eq!(parse_bytes(&[0xff]), Pushback::DoNotRetry);
        assert_eq!(parse_bytes(&[b'5', 0xff]), Pushback::DoNotRetry);
    }

    #[test]
    fn value_rounds_up_to_whole_millis() {
        assert_eq!(pushback_value(Duration::ZERO), "0");
        assert_eq!(pushback_value(Duration::from_nanos(1)), "1");
        assert_eq!(pushback_value(Duration::from_millis(1)), "1");
        assert_eq!(pushback_value(Duration::from_nanos(1_000_001)), "2");
        assert_eq!(pushback_value(Duration::from_secs(3)), "3000");
    }

    #[test]
    fn value_clamps_to_max_retry_after() {
        assert_eq!(pushback_value(MAX_RETRY_AFTER), "86400000");
        assert_eq!(
            pushback_value(MAX_RETRY_AFTER + Duration::from_nanos(1)),
            "86400000"
        );
        assert_eq!(pushback_value(Duration::MAX), "86400000");
    }

    #[test]
    fn do_not_retry_round_trips() {
        assert_eq!(
            parse_pushback(&Pushback::DoNotRetry.to_header_value()),
            Pushback::DoNotRetry
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes)
                && let Pushback::RetryAfter(delay) = parse_pushback(&value)
            {
                prop_assert!(delay < Duration::from_millis(10_000_000_000));
            }
        }

        #[test]
        fn any_integer_text_never_panics(n in any::<i128>()) {
            let value = HeaderValue::from_str(&n.to_string()).unwrap();
            let parsed = parse_pushback(&value);
            if (0..10_000_000_000).contains(&n) {
                prop_assert_eq!(parsed, after(n as u64));
            } else {
                prop_assert_eq!(parsed, Pushback::DoNotRetry);
            }
        }

        #[test]
        fn round_trip(nanos in 0..=MAX_RETRY_AFTER.as_nanos() as u64) {
            let delay = Duration::from_nanos(nanos);
            let value = pushback_value(delay);
            let Pushback::RetryAfter(parsed) = parse_pushback(&value) else {
                return Err(TestCaseError::fail(format!("{value:?} parsed as DoNotRetry")));
            };
            prop_assert!(parsed >= delay);
            prop_assert!(parsed - delay < Duration::from_millis(1));
        }

        #[test]
        fn any_duration_encodes_to_a_retry(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let delay = Duration::new(secs, nanos);
            let value = pushback_value(delay);
            let expected = delay.min(MAX_RETRY_AFTER);
            match parse_pushback(&value) {
                Pushback::RetryAfter(parsed) => prop_assert!(parsed >= expected && parsed <= MAX_RETRY_AFTER),
                Pushback::DoNotRetry => prop_assert!(false, "{value:?} parsed as DoNotRetry"),
            }
        }
    }
}
