//! gRPC `grpc-timeout`: `TimeoutValue TimeoutUnit`, where `TimeoutValue` is
//! 1 to 8 ASCII digits and `TimeoutUnit` one of `H M S m u n`.

use std::time::Duration;

use http::HeaderValue;

use super::{CodecError, ascii_value, parse_digits};

/// The gRPC protocol allows at most eight digits.
const MAX_DIGITS: usize = 8;

/// The largest `TimeoutValue`, eight nines.
const MAX_VALUE: u64 = 99_999_999;

/// Units from finest to coarsest, with their length in nanoseconds. The
/// encoder walks this order to keep as much precision as eight digits allow.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60 * 1_000_000_000),
    (b'H', 60 * 60 * 1_000_000_000),
];

/// Parses a `grpc-timeout` value into the time the caller allows.
///
/// The grammar is exactly the gRPC protocol's: 1 to 8 ASCII digits, then
/// one unit (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u`
/// microseconds, `n` nanoseconds). No sign, no whitespace, no fraction.
/// The largest value, `99999999H`, is about 11 400 years and fits a
/// [`Duration`] without overflow; the deadline layer takes the smaller of
/// it and its own limit.
///
/// # Errors
///
/// - [`CodecError::Empty`]: an empty value;
/// - [`CodecError::TooLong`]: more than 8 digits (or more than 9 bytes);
/// - [`CodecError::Invalid`]: no digits, a non-digit, or a missing or
///   unknown unit.
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::{parse_grpc_timeout, CodecError};
/// use http::HeaderValue;
///
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("250m")), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("2H")), Ok(Duration::from_secs(7_200)));
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("123456789S")), Err(CodecError::TooLong));
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("5s")), Err(CodecError::Invalid));
/// ```
pub fn parse_grpc_timeout(value: &HeaderValue) -> Result<Duration, CodecError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    // Count the digit run before judging length, so that nine digits read
    // as "too many digits" whether or not a unit follows.
    if digits > MAX_DIGITS || bytes.len() > MAX_DIGITS + 1 {
        return Err(CodecError::TooLong);
    }
    let (number, unit) = bytes.split_at(digits);
    let [unit] = unit else {
        return Err(CodecError::Invalid);
    };
    let unit_nanos = UNITS
        .iter()
        .find(|(symbol, _)| symbol == unit)
        .map(|&(_, nanos)| nanos)
        .ok_or(CodecError::Invalid)?;
    let count = parse_digits(number).ok_or(CodecError::Invalid)?;
    // Split into whole seconds and a remainder so that no intermediate
    // product can overflow, whatever the unit.
    let (secs, nanos) = if unit_nanos >= 1_000_000_000 {
        let secs = count
            .checked_mul(unit_nanos / 1_000_000_000)
            .ok_or(CodecError::Invalid)?;
        (secs, 0)
    } else {
        let per_sec = 1_000_000_000 / unit_nanos;
        (count / per_sec, (count % per_sec) * unit_nanos)
    };
    // `nanos` < 1e9 by construction, so this is exact.
    Ok(Duration::new(
        secs,
        u32::try_from(nanos).map_err(|_| CodecError::Invalid)?,
    ))
}

/// Encodes a timeout as a `grpc-timeout` value.
///
/// Picks the finest unit (`n`, `u`, `m`, `S`, `M`, `H`, in that order) in
/// which the timeout fits eight digits, and rounds *up* within it: rounding
/// down would tell the server it has less time than the caller gives, and
/// a deadline of zero would fail a call that still had time. Zero encodes
/// as `0n`. A timeout too large even in hours (over about 11 400 years)
/// saturates at `99999999H`.
///
/// ```
/// use std::time::Duration;
/// use buttress_core::codec::grpc_timeout_value;
///
/// assert_eq!(grpc_timeout_value(Duration::from_millis(250)), "250000u");
/// assert_eq!(grpc_timeout_value(Duration::from_secs(30)), "30000000u");
/// assert_eq!(grpc_timeout_value(Duration::from_secs(300)), "300000m");
/// assert_eq!(grpc_timeout_value(Duration::MAX), "99999999H");
/// ```
pub fn grpc_timeout_value(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let (value, unit) = UNITS
        .iter()
        .find_map(|&(unit, unit_nanos)| {
            let value = nanos.div_ceil(u128::from(unit_nanos));
            (value <= u128::from(MAX_VALUE)).then_some((value, unit))
        })
        .unwrap_or((u128::from(MAX_VALUE), b'H'));

    let mut buf = [0u8; MAX_DIGITS + 1];
    let mut start = MAX_DIGITS;
    let mut rest = value;
    // Write digits right to left; `value` <= MAX_VALUE has at most eight.
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 || start == 0 {
            break;
        }
    }
    buf[MAX_DIGITS] = unit;
    ascii_value(&buf[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &'static str) -> Result<Duration, CodecError> {
        parse_grpc_timeout(&HeaderValue::from_static(s))
    }

    fn parse_bytes(b: &[u8]) -> Result<Duration, CodecError> {
        parse_grpc_timeout(&HeaderValue::from_bytes(b).unwrap())
    }

    #[test]
    fn every_unit() {
        assert_eq!(parse("7n"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("7u"), Ok(Duration::from_micros(7)));
        assert_eq!(parse("7m"), Ok(Duration::from_millis(7)));
        assert_eq!(parse("7S"), Ok(Duration::from_secs(7)));
        assert_eq!(parse("7M"), Ok(Duration::from_secs(7 * 60)));
        assert_eq!(parse("7H"), Ok(Duration::from_secs(7 * 3_600)));
    }

    #[test]
    fn zero_and_leading_zeros() {
        assert_eq!(parse("0S"), Ok(Duration::ZERO));
        assert_eq!(parse("0n"), Ok(Duration::ZERO));
        assert_eq!(parse("00000001m"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn eight_digits_in_every_unit() {
        assert_eq!(parse("99999999n"), Ok(Duration::from_nanos(99_999_999)));
        assert_eq!(parse("99999999u"), Ok(Duration::from_micros(99_999_999)));
        assert_eq!(parse("99999999m"), Ok(Duration::from_millis(99_999_999)));
        assert_eq!(parse("99999999S"), Ok(Duration::from_secs(99_999_999)));
        assert_eq!(parse("99999999M"), Ok(Duration::from_secs(99_999_999 * 60)));
    }

    #[test]
    fn largest_hours_do_not_overflow() {
        assert_eq!(
            parse("99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3_600))
        );
    }

    #[test]
    fn empty_is_empty() {
        assert_eq!(parse(""), Err(CodecError::Empty));
    }

    #[test]
    fn nine_digits_are_too_long() {
        assert_eq!(parse("123456789S"), Err(CodecError::TooLong));
        assert_eq!(parse("000000001H"), Err(CodecError::TooLong));
        assert_eq!(parse("123456789"), Err(CodecError::TooLong));
        assert_eq!(parse("99999999999999999999H"), Err(CodecError::TooLong));
    }

    #[test]
    fn overlong_input_is_too_long() {
        assert_eq!(parse("1Sxxxxxxxxx"), Err(CodecError::TooLong));
        assert_eq!(parse_bytes(&[b'x'; 1_000]), Err(CodecError::TooLong));
    }

    #[test]
    fn missing_unit_is_invalid() {
        assert_eq!(parse("1"), Err(CodecError::Invalid));
        assert_eq!(parse("12345678"), Err(CodecError::Invalid));
    }

    #[test]
    fn unit_only_is_invalid() {
        for unit in ["H", "M", "S", "m", "u", "n"] {
            assert_eq!(parse(unit), Err(CodecError::Invalid), "{unit}");
        }
    }

    #[test]
    fn unknown_unit_is_invalid() {
        assert_eq!(parse("5s"), Err(CodecError::Invalid));
        assert_eq!(parse("5h"), Err(CodecError::Invalid));
        assert_eq!(parse("5D"), Err(CodecError::Invalid));
        assert_eq!(parse("5ms"), Err(CodecError::Invalid));
        assert_eq!(parse("5U"), Err(CodecError::Invalid));
    }

    #[test]
    fn signs_whitespace_and_fractions_are_invalid() {
        assert_eq!(parse("+5S"), Err(CodecError::Invalid));
        assert_eq!(parse("-5S"), Err(CodecError::Invalid));
        assert_eq!(parse(" 5S"), Err(CodecError::Invalid));
        assert_eq!(parse("5S "), Err(CodecError::Invalid));
        assert_eq!(parse("5 S"), Err(CodecError::Invalid));
        assert_eq!(parse("\t5S"), Err(CodecError::Invalid));
        assert_eq!(parse("1.5S"), Err(CodecError::Invalid));
        assert_eq!(parse("5S5"), Err(CodecError::Invalid));
        assert_eq!(parse("5SS"), Err(CodecError::Invalid));
    }

    #[test]
    fn non_utf8_is_invalid() {
        assert_eq!(parse_bytes(&[0xff]), Err(CodecError::Invalid));
        assert_eq!(parse_bytes(&[b'5', 0xff]), Err(CodecError::Invalid));
        assert_eq!(parse_bytes(&[0xff, b'S']), Err(CodecError::Invalid));
    }

    #[test]
    fn value_picks_finest_unit_that_fits() {
        assert_eq!(grpc_timeout_value(Duration::ZERO), "0n");
        assert_eq!(
            grpc_timeout_value(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(
            grpc_timeout_value(Duration::from_nanos(100_000_000)),
            "100000u"
        );
        assert_eq!(grpc_timeout_value(Duration::from_secs(1)), "1000000u");
        assert_eq!(grpc_timeout_value(Duration::from_secs(100)), "100000m");
        assert_eq!(grpc_timeout_value(Duration::from_secs(100_000)), "100000S");
        assert_eq!(
            grpc_timeout_value(Duration::from_secs(100_000_000)),
            "1666667M"
        );
        assert_eq!(
            grpc_timeout_value(Duration::from_secs(99_999_999 * 60 + 1)),
            "1666667H"
        );
    }

    #[test]
    fn value_rounds_up_within_unit() {
        assert_eq!(
            grpc_timeout_value(Duration::from_nanos(100_000_001)),
            "100001u"
        );
        assert_eq!(grpc_timeout_value(Duration::new(100_000, 1)), "100001S");
    }

    #[test]
    fn value_saturates_at_max_hours() {
        let max = Duration::from_secs(MAX_VALUE * 3_600);
        assert_eq!(grpc_timeout_value(max), "99999999H");
        assert_eq!(
            grpc_timeout_value(max + Duration::from_nanos(1)),
            "99999999H"
        );
        assert_eq!(grpc_timeout_value(Duration::MAX), "99999999H");
    }

    /// The unit the encoder picked, for checking "within one unit".
    fn unit_of(value: &HeaderValue) -> Duration {
        let unit = *value.as_bytes().last().unwrap();
        let nanos = UNITS.iter().find(|(u, _)| *u == unit).unwrap().1;
        Duration::from_nanos(nanos)
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let _ = parse_grpc_timeout(&value);
            }
        }

        #[test]
        fn grammar_like_strings_never_panic(s in "[0-9+ -]{0,10}[HMSmunxs ]?") {
            if let Ok(value) = HeaderValue::from_str(&s)
                && let Ok(timeout) = parse_grpc_timeout(&value)
            {
                prop_assert!(timeout <= Duration::from_secs(MAX_VALUE * 3_600));
            }
        }

        #[test]
        fn round_trip(secs in 0u64..=MAX_VALUE * 3_600, nanos in 0u32..1_000_000_000) {
            let timeout = Duration::new(secs, nanos);
            let value = grpc_timeout_value(timeout);
            let parsed = parse_grpc_timeout(&value).unwrap();
            if timeout <= Duration::from_secs(MAX_VALUE * 3_600) {
                prop_assert!(parsed >= timeout, "{value:?} {parsed:?} < {timeout:?}");
                prop_assert!(parsed - timeout < unit_of(&value), "{value:?} {parsed:?} {timeout:?}");
            } else {
                prop_assert_eq!(value, "99999999H");
            }
        }

        #[test]
        fn round_trip_small(nanos in 0u64..10_000_000_000_000) {
            let timeout = Duration::from_nanos(nanos);
            let value = grpc_timeout_value(timeout);
            let parsed = parse_grpc_timeout(&value).unwrap();
            prop_assert!(parsed >= timeout);
            prop_assert!(parsed - timeout < unit_of(&value));
        }

        #[test]
        fn any_duration_encodes_to_a_parseable_value(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let value = grpc_timeout_value(Duration::new(secs, nanos));
            prop_assert!(parse_grpc_timeout(&value).is_ok());
        }
    }
}
