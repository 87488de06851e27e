//! HTTP `Retry-After` (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use super::{CodecError, ascii_value, parse_digits};

/// The largest delay [`parse_retry_after`] accepts and the encoders emit:
/// 24 hours.
///
/// This bound only rejects absurd values (a server asking for a year, or a
/// date mangled into the far future); the retry policy applies its own,
/// much smaller cap on top of it.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(buttress_core::codec::MAX_RETRY_AFTER, Duration::from_secs(24 * 60 * 60));
/// ```
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest input looked at. The longest valid form, an RFC 850 date
/// with a nine-letter weekday, is 33 bytes; the rest is slack for OWS.
const MAX_LEN: usize = 64;

/// Delta-seconds longer than this are refused before being parsed: ten
/// digits already exceed [`MAX_RETRY_AFTER`] by far.
const MAX_DIGITS: usize = 10;

/// The last second `httpdate` can format (9999-12-31T23:59:59Z); it panics
/// beyond it.
const LATEST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Parses a `Retry-After` value into the delay it asks for, measured from
/// `now`.
///
/// Accepts either form RFC 9110 allows:
/// - delta-seconds: ASCII digits only (at most 10), no sign, no fraction;
/// - an HTTP-date in any of its three formats (IMF-fixdate, RFC 850,
///   asctime).
///
/// Optional surrounding whitespace (SP, HTAB) is ignored; anything longer
/// than 64 bytes is refused unread.
///
/// # Errors
///
/// - [`CodecError::Empty`]: nothing but whitespace;
/// - [`CodecError::TooLong`]: more than 64 bytes, or more than 10 digits;
/// - [`CodecError::Invalid`]: neither delta-seconds nor an HTTP-date;
/// - [`CodecError::InPast`]: a date at or before `now`. A past date is more
///   likely clock skew between us and the server than a request to retry
///   at once, so the caller should fall back on its own backoff rather
///   than retry immediately;
/// - [`CodecError::OutOfRange`]: a delay beyond [`MAX_RETRY_AFTER`].
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use buttress_core::codec::{parse_retry_after, CodecError};
/// use http::HeaderValue;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// let later = HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT");
/// assert_eq!(parse_retry_after(&later, now), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("1.5"), now), Err(CodecError::Invalid));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("999999"), now), Err(CodecError::OutOfRange));
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Result<Duration, CodecError> {
    let raw = value.as_bytes();
    if raw.len() > MAX_LEN {
        return Err(CodecError::TooLong);
    }
    let bytes = trim_ows(raw);
    let delay = match bytes.first() {
        None => return Err(CodecError::Empty),
        Some(b) if b.is_ascii_digit() => parse_delta_seconds(bytes)?,
        Some(_) => parse_date(bytes, now)?,
    };
    if delay > MAX_RETRY_AFTER {
        return Err(CodecError::OutOfRange);
    }
    Ok(delay)
}

fn parse_delta_seconds(bytes: &[u8]) -> Result<Duration, CodecError> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits != bytes.len() {
        return Err(CodecError::Invalid);
    }
    if digits > MAX_DIGITS {
        return Err(CodecError::TooLong);
    }
    parse_digits(bytes)
        .map(Duration::from_secs)
        .ok_or(CodecError::Invalid)
}

fn parse_date(bytes: &[u8], now: SystemTime) -> Result<Duration, CodecError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::Invalid)?;
    let at = httpdate::parse_http_date(text).map_err(|_| CodecError::Invalid)?;
    match at.duration_since(now) {
        Ok(delay) if !delay.is_zero() => Ok(delay),
        _ => Err(CodecError::InPast),
    }
}

/// Trims the optional whitespace (SP, HTAB) HTTP allows around a field
/// value. `<[u8]>::trim_ascii` would also strip bytes that are not OWS.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Encodes a delay as `Retry-After` delta-seconds.
///
/// The delay is rounded *up* to whole seconds, because a client must never
/// be told to come back before the server is ready: any non-zero delay
/// yields at least `1`, and only a zero delay yields `0`. Delays beyond
/// [`MAX_RETRY_AFTER`] are clamped to it.
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::retry_after_value;
///
/// assert_eq!(retry_after_value(Duration::ZERO), "0");
/// assert_eq!(retry_after_value(Duration::from_millis(1)), "1");
/// assert_eq!(retry_after_value(Duration::from_millis(2_001)), "3");
/// assert_eq!(retry_after_value(Duration::MAX), "86400");
/// ```
pub fn retry_after_value(delay: Duration) -> HeaderValue {
    let delay = delay.min(MAX_RETRY_AFTER);
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    HeaderValue::from(secs)
}

/// Encodes an instant as a `Retry-After` HTTP-date in IMF-fixdate form
/// (`Sun, 06 Nov 1994 08:49:37 GMT`).
///
/// An HTTP-date has whole seconds, so a fractional instant is rounded *up*
/// to the next second, for the same reason [`retry_after_value`] rounds
/// up. Instants outside what an HTTP-date can express (before 1970, after
/// the year 9999) are clamped to the nearest one it can.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use buttress_core::codec::retry_after_date;
///
/// let at = UNIX_EPOCH + Duration::from_millis(784_111_776_200);
/// assert_eq!(retry_after_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn retry_after_date(at: SystemTime) -> HeaderValue {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since_epoch
        .as_secs()
        .saturating_add(u64::from(since_epoch.subsec_nanos() > 0))
        .min(LATEST_HTTP_DATE_SECS);
    // Every tier-1 platform represents the year 9999; a platform that
    // cannot gets the epoch, which a client reads as a past date and
    // answers with its own backoff, rather than a panic here.
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH);
    ascii_value(httpdate::fmt_http_date(at).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's own example date.
    fn rfc_example() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    fn parse(s: &'static str) -> Result<Duration, CodecError> {
        parse_retry_after(&HeaderValue::from_static(s), rfc_example())
    }

    fn parse_bytes(b: &[u8]) -> Result<Duration, CodecError> {
        parse_retry_after(&HeaderValue::from_bytes(b).unwrap(), rfc_example())
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("0000000120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("86400"), Ok(MAX_RETRY_AFTER));
    }

    #[test]
    fn empty_and_blank_are_empty() {
        assert_eq!(parse(""), Err(CodecError::Empty));
        assert_eq!(parse(" "), Err(CodecError::Empty));
        assert_eq!(parse(" \t "), Err(CodecError::Empty));
    }

    #[test]
    fn surrounding_ows_is_trimmed() {
        assert_eq!(parse(" 5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("5 "), Ok(Duration::from_secs(5)));
        assert_eq!(parse("\t5\t"), Ok(Duration::from_secs(5)));
        assert_eq!(
            parse("  Sun, 06 Nov 1994 08:49:47 GMT  "),
            Ok(Duration::from_secs(10))
        );
    }

    #[test]
    fn inner_whitespace_is_invalid() {
        assert_eq!(parse("5 6"), Err(CodecError::Invalid));
        assert_eq!(parse("5\t6"), Err(CodecError::Invalid));
    }

    #[test]
    fn signs_and_fractions_are_invalid() {
        assert_eq!(parse("+5"), Err(CodecError::Invalid));
        assert_eq!(parse("-5"), Err(CodecError::Invalid));
        assert_eq!(parse("-0"), Err(CodecError::Invalid));
        assert_eq!(parse("1.5"), Err(CodecError::Invalid));
        assert_eq!(parse("1e3"), Err(CodecError::Invalid));
        assert_eq!(parse("0x10"), Err(CodecError::Invalid));
        assert_eq!(parse("5s"), Err(CodecError::Invalid));
        assert_eq!(parse("five"), Err(CodecError::Invalid));
        assert_eq!(parse("1,2"), Err(CodecError::Invalid));
    }

    #[test]
    fn too_many_digits_is_too_long() {
        assert_eq!(parse("00000000001"), Err(CodecError::TooLong));
        assert_eq!(parse("99999999999"), Err(CodecError::TooLong));
        assert_eq!(parse("18446744073709551616"), Err(CodecError::TooLong));
    }

    #[test]
    fn overlong_input_is_too_long_even_if_blank() {
        let long = [b'1'; MAX_LEN + 1];
        assert_eq!(parse_bytes(&long), Err(CodecError::TooLong));
        let blank = [b' '; MAX_LEN + 1];
        assert_eq!(parse_bytes(&blank), Err(CodecError::TooLong));
        // Exactly at the cap, padding is still just padding.
        let mut padded = [b' '; MAX_LEN];
        padded[MAX_LEN / 2] = b'7';
        assert_eq!(parse_bytes(&padded), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn large_delta_is_out_of_range() {
        assert_eq!(parse("86401"), Err(CodecError::OutOfRange));
        assert_eq!(parse("9999999999"), Err(CodecError::OutOfRange));
    }

    #[test]
    fn all_three_date_formats() {
        let expected = Ok(Duration::from_secs(60));
        assert_eq!(parse("Sun, 06 Nov 1994 08:50:37 GMT"), expected);
        assert_eq!(parse("Sunday, 06-Nov-94 08:50:37 GMT"), expected);
        assert_eq!(parse("Sun Nov  6 08:50:37 1994"), expected);
    }

    #[test]
    fn date_at_or_before_now_is_in_past() {
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Err(CodecError::InPast)
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:36 GMT"),
            Err(CodecError::InPast)
        );
        assert_eq!(
            parse("Thu, 01 Jan 1970 00:00:00 GMT"),
            Err(CodecError::InPast)
        );
        assert_eq!(
            parse("Sunday, 06-Nov-94 08:00:00 GMT"),
            Err(CodecError::InPast)
        );
        assert_eq!(parse("Sun Nov  6 08:00:00 1994"), Err(CodecError::InPast));
    }

    #[test]
    fn date_with_subsecond_now_measures_the_remainder() {
        let now = rfc_example() + Duration::from_millis(250);
        let value = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(
            parse_retry_after(&value, now),
            Ok(Duration::from_millis(750))
        );
    }

    #[test]
    fn far_future_date_is_out_of_range() {
        assert_eq!(parse("Mon, 07 Nov 1994 08:49:37 GMT"), Ok(MAX_RETRY_AFTER));
        assert_eq!(
            parse("Mon, 07 Nov 1994 08:49:38 GMT"),
            Err(CodecError::OutOfRange)
        );
        assert_eq!(
            parse("Fri, 31 Dec 9999 23:59:59 GMT"),
            Err(CodecError::OutOfRange)
        );
    }

    #[test]
    fn malformed_dates_are_invalid() {
        // Wrong weekday for the date.
        assert_eq!(
            parse("Mon, 06 Nov 1994 08:50:37 GMT"),
            Err(CodecError::Invalid)
        );
        // Not GMT.
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:50:37 UTC"),
            Err(CodecError::Invalid)
        );
        // Impossible fields.
        assert_eq!(
            parse("Sun, 32 Nov 1994 08:50:37 GMT"),
            Err(CodecError::Invalid)
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 24:50:37 GMT"),
            Err(CodecError::Invalid)
        );
        assert_eq!(
            parse("Sun, 06 Foo 1994 08:50:37 GMT"),
            Err(CodecError::Invalid)
        );
        // Truncated, and ISO 8601 which HTTP does not allow.
        assert_eq!(parse("Sun, 06 Nov 1994"), Err(CodecError::Invalid));
        assert_eq!(parse("1994-11-06T08:50:37Z"), Err(CodecError::Invalid));
        // A year HTTP-date cannot express.
        assert_eq!(
            parse("Sat, 01 Jan 10000 00:00:00 GMT"),
            Err(CodecError::Invalid)
        );
    }

    #[test]
    fn non_utf8_is_invalid() {
        assert_eq!(parse_bytes(&[0xff]), Err(CodecError::Invalid));
        assert_eq!(parse_bytes(&[b'5', 0xff]), Err(CodecError::Invalid));
        assert_eq!(
            parse_bytes("Sun, 06 Nov 1994 08:50:37 GMT\u{e9}".as_bytes()),
            Err(CodecError::Invalid)
        );
    }

    #[test]
    fn value_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_value(Duration::ZERO), "0");
        assert_eq!(retry_after_value(Duration::from_nanos(1)), "1");
        assert_eq!(retry_after_value(Duration::from_secs(1)), "1");
        assert_eq!(retry_after_value(Duration::from_millis(1_001)), "2");
        assert_eq!(retry_after_value(Duration::from_secs(30)), "30");
    }

    #[test]
    fn value_clamps_to_max() {
        assert_eq!(retry_after_value(MAX_RETRY_AFTER), "86400");
        assert_eq!(
            retry_after_value(MAX_RETRY_AFTER + Duration::from_nanos(1)),
            "86400"
        );
        assert_eq!(retry_after_value(Duration::MAX), "86400");
    }

    #[test]
    fn date_is_imf_fixdate_rounded_up() {
        assert_eq!(
            retry_after_date(rfc_example()),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            retry_after_date(rfc_example() + Duration::from_nanos(1)),
            "Sun, 06 Nov 1994 08:49:38 GMT"
        );
    }

    #[test]
    fn date_clamps_to_what_http_date_can_express() {
        assert_eq!(
            retry_after_date(UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        if let Some(before) = UNIX_EPOCH.checked_sub(Duration::from_secs(1)) {
            assert_eq!(retry_after_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        }
        let latest = UNIX_EPOCH + Duration::from_secs(LATEST_HTTP_DATE_SECS);
        assert_eq!(retry_after_date(latest), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            retry_after_date(latest + Duration::from_millis(1)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        if let Some(beyond) = latest.checked_add(Duration::from_secs(10_000 * 365 * 86_400)) {
            assert_eq!(retry_after_date(beyond), "Fri, 31 Dec 9999 23:59:59 GMT");
        }
    }

    #[test]
    fn date_round_trip() {
        let now = rfc_example() + Duration::from_millis(400);
        let delay = Duration::from_millis(90_300);
        let parsed = parse_retry_after(&retry_after_date(now + delay), now).unwrap();
        assert!(parsed >= delay && parsed - delay < Duration::from_secs(1));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100), now_secs in any::<u32>()) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let now = UNIX_EPOCH + Duration::from_secs(u64::from(now_secs));
                if let Ok(delay) = parse_retry_after(&value, now) {
                    prop_assert!(delay <= MAX_RETRY_AFTER);
                }
            }
        }

        #[test]
        fn date_like_strings_never_panic(s in "[A-Za-z]{3,9}, [0-9 -]{2,3}[A-Za-z]{3}[ -][0-9]{2,5} [0-9:]{8} [A-Z]{3}") {
            if let Ok(value) = HeaderValue::from_str(&s) {
                let _ = parse_retry_after(&value, rfc_example());
            }
        }

        #[test]
        fn delta_seconds_round_trip(nanos in 0..=MAX_RETRY_AFTER.as_nanos() as u64) {
            let delay = Duration::from_nanos(nanos);
            let parsed = parse_retry_after(&retry_after_value(delay), rfc_example()).unwrap();
            prop_assert!(parsed >= delay);
            prop_assert!(parsed - delay < Duration::from_secs(1));
        }

        #[test]
        fn any_duration_encodes_to_a_parseable_value(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let delay = Duration::new(secs, nanos);
            let parsed = parse_retry_after(&retry_after_value(delay), rfc_example()).unwrap();
            prop_assert!(parsed <= MAX_RETRY_AFTER);
            prop_assert!(parsed >= delay.min(MAX_RETRY_AFTER));
        }

        #[test]
        fn date_round_trip_any(now_ms in 0u64..4_000_000_000_000, delay_ms in 1u64..=MAX_RETRY_AFTER.as_millis() as u64 - 1_000) {
            let now = UNIX_EPOCH + Duration::from_millis(now_ms);
            let delay = Duration::from_millis(delay_ms);
            let parsed = parse_retry_after(&retry_after_date(now + delay), now).unwrap();
            prop_assert!(parsed >= delay);
            prop_assert!(parsed - delay < Duration::from_secs(1));
        }

        #[test]
        fn any_instant_encodes_without_panic(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            if let Some(at) = UNIX_EPOCH.checked_add(Duration::new(secs / 2, nanos)) {
                let value = retry_after_date(at);
                prop_assert_eq!(value.len(), 29);
            }
        }
    }
}
