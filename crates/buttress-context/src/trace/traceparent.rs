//! The `traceparent` header: `version-traceid-parentid-flags`.

use std::fmt;

use buttress_core::context::TraceContext;
use bytes::Bytes;
use http::HeaderValue;

use crate::hex::encode_hex;

/// The length of a version-00 `traceparent`: `2 + 1 + 32 + 1 + 16 + 1 + 2`.
pub const TRACEPARENT_LEN: usize = 55;

/// The `sampled` bit of `trace-flags`.
pub const SAMPLED: u8 = 0x01;

/// The `random-trace-id` bit of `trace-flags`: at least the right-most
/// 7 bytes of the trace ID were drawn at random.
pub const RANDOM_TRACE_ID: u8 = 0x02;

/// The `trace-flags` bits the spec defines (`sampled` and
/// `random-trace-id`). The others are reserved: the spec says "Vendors
/// MUST set those to zero", and for a higher version the processing model
/// says a vendor "will only parse the `trace-flags` values supported by
/// this version" and sets "all unparsed / unknown `trace-flags` to 0 on
/// outgoing requests". So they are dropped when read and when written;
/// the two defined bits are kept as received.
pub const KNOWN_FLAGS: u8 = SAMPLED | RANDOM_TRACE_ID;

/// Why a `traceparent` was refused. The layer reacts to all of them the
/// same way (start a new trace); the kind is for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceparentError {
    /// Shorter than 55 bytes, longer for version 00, or a later version
    /// whose extra fields do not start with `-`.
    Length,
    /// The version is not two lower-case hex digits, or is `ff`.
    Version,
    /// A `-` is missing where the layout puts one.
    Delimiter,
    /// The trace ID is not 32 lower-case hex digits, or is all zeros.
    TraceId,
    /// The parent ID is not 16 lower-case hex digits, or is all zeros.
    ParentId,
    /// The flags are not two lower-case hex digits.
    Flags,
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceparentError::Length => "traceparent has the wrong length",
            TraceparentError::Version => "traceparent version is invalid",
            TraceparentError::Delimiter => "traceparent delimiter missing",
            TraceparentError::TraceId => "traceparent trace id is invalid",
            TraceparentError::ParentId => "traceparent parent id is invalid",
            TraceparentError::Flags => "traceparent flags are invalid",
        })
    }
}

impl std::error::Error for TraceparentError {}

/// Parses a `traceparent` strictly by the W3C Trace Context spec:
///
/// - version: two lower-case hex digits, `ff` invalid;
/// - trace ID: 32 lower-case hex digits, not all zero;
/// - parent ID: 16 lower-case hex digits, not all zero;
/// - flags: two lower-case hex digits; the defined bits ([`KNOWN_FLAGS`])
///   are kept as sent, the reserved ones read as zero;
/// - version `00` is exactly 55 bytes; a later version is read by the
///   version-00 positions and may go on only after a `-` at byte 55.
///
/// ```
/// use buttress_context::trace::{parse_traceparent, TraceparentError};
///
/// let trace = parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(trace.parent_id(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// assert_eq!(
///     parse_traceparent(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
///     Err(TraceparentError::TraceId),
/// );
/// ```
pub fn parse_traceparent(value: &[u8]) -> Result<TraceContext, TraceparentError> {
    if value.len() < TRACEPARENT_LEN {
        return Err(TraceparentError::Length);
    }
    let version = hex_byte(value[0], value[1]).ok_or(TraceparentError::Version)?;
    if version == 0xff {
        return Err(TraceparentError::Version);
    }
    if version == 0 && value.len() != TRACEPARENT_LEN {
        return Err(TraceparentError::Length);
    }
    if version > 0 && value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
        return Err(TraceparentError::Length);
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return Err(TraceparentError::Delimiter);
    }
    let trace_id: [u8; 16] = decode_hex(&value[3..35]).ok_or(TraceparentError::TraceId)?;
    if trace_id == [0; 16] {
        return Err(TraceparentError::TraceId);
    }
    let parent_id: [u8; 8] = decode_hex(&value[36..52]).ok_or(TraceparentError::ParentId)?;
    if parent_id == [0; 8] {
        return Err(TraceparentError::ParentId);
    }
    let flags = hex_byte(value[53], value[54]).ok_or(TraceparentError::Flags)?;
    Ok(TraceContext::new(trace_id, parent_id, flags & KNOWN_FLAGS))
}

/// Writes a version-00 `traceparent` into a stack buffer. The reserved
/// `trace-flags` bits are written as zero, whatever `flags` holds (the
/// spec: "Vendors MUST set those to zero").
///
/// ```
/// use buttress_context::trace::write_traceparent;
/// let text = write_traceparent([0xab; 16], [0x01; 8], 0x01);
/// assert_eq!(&text[..], b"00-abababababababababababababababab-0101010101010101-01");
/// let text = write_traceparent([0xab; 16], [0x01; 8], 0xff);
/// assert_eq!(&text[53..], b"03");
/// ```
pub fn write_traceparent(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> [u8; TRACEPARENT_LEN] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    encode_hex(&trace_id, &mut out[3..35]);
    encode_hex(&span_id, &mut out[36..52]);
    encode_hex(&[flags & KNOWN_FLAGS], &mut out[53..55]);
    out
}

/// A version-00 `traceparent` header value, in one allocation; reserved
/// flag bits written as zero, as by [`write_traceparent`].
pub fn traceparent_value(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(write_traceparent(
        trace_id, span_id, flags,
    )))
    .expect("lower-case hex and dashes are a valid header value")
}

/// The value of each lower-case hex digit, `0xff` for every other byte:
/// one load per digit, and one check per field instead of one per digit.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn hex_byte(high: u8, low: u8) -> Option<u8> {
    let (high, low) = (HEX[usize::from(high)], HEX[usize::from(low)]);
    ((high | low) & 0xf0 == 0).then_some(high << 4 | low)
}

/// Decodes `2 * N` lower-case hex digits (`N` 4, 8 or 16); `None` if any
/// is not one.
fn decode_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let (words, rest) = text.as_chunks::<8>();
    if words.len() * 4 != N || N > 16 || !rest.is_empty() {
        return None;
    }
    // Gathered in a register and stored once: four-byte stores read back
    // as one wide load would stall the load on store forwarding.
    // No early exit: every word is decoded, and one test at the end says
    // whether any digit was invalid.
    let mut value = 0u128;
    let mut ok = true;
    for (i, word) in words.iter().enumerate() {
        let (bytes, valid) = decode_hex_word(u64::from_le_bytes(*word));
        value |= u128::from(u32::from_le_bytes(bytes)) << (32 * i);
        ok &= valid;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&value.to_le_bytes()[..N]);
    ok.then_some(out)
}

/// Eight lower-case hex digits (the first in the low byte) to four bytes,
/// eight at a time in one register, and whether all eight were digits.
#[inline]
fn decode_hex_word(word: u64) -> ([u8; 4], bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // For bytes below 0x80, adding `0x80 - k` sets a byte's top bit
    // exactly when the byte is at least `k`, and never carries into the
    // next byte.
    let at_least = |k: u64| word.wrapping_add(ONES * (0x80 - k)) & HIGH;
    let digit = at_least(0x30) & !at_least(0x3a);
    let letter = at_least(0x61) & !at_least(0x67);
    let valid = word & HIGH == 0 && digit | letter == HIGH;
    // '0'..'9' are 0x30..0x39, 'a'..'f' are 0x61..0x66: the low nibble,
    // plus 9 when bit 6 is set.
    let nibbles = (word & (ONES * 0x0f)) + ((word >> 6) & ONES) * 9;
    // Each even byte takes its own nibble high and the next byte's low,
    // then the even bytes are packed together.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let packed = (pairs | (pairs >> 16)) as u32;
    (packed.to_le_bytes(), valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_accepts_lower_case_digits_only() {
        for high in 0..=u8::MAX {
            for low in [b'0', b'9', b'a', b'f', high] {
                let by_ranges = |b: u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
                let expected = (by_ranges(high) && by_ranges(low)).then(|| {
                    u8::from_str_radix(std::str::from_utf8(&[high, low]).unwrap(), 16).unwrap()
                });
                assert_eq!(hex_byte(high, low), expected, "{high} {low}");
                // The same pair at every position of a word of valid digits.
                for at in [0, 2, 4, 6] {
                    let mut text = *b"0123abcd";
                    text[at] = high;
                    text[at + 1] = low;
                    let decoded = decode_hex::<4>(&text);
                    assert_eq!(decoded.map(|b| b[at / 2]), expected, "{text:?}");
                    if let (Some(bytes), Some(_)) = (decoded, expected) {
                        let mut others = [0x01, 0x23, 0xab, 0xcd];
                        others[at / 2] = bytes[at / 2];
                        assert_eq!(bytes, others);
                    }
                }
            }
        }
        assert_eq!(decode_hex::<4>(b"0a"), None);
        assert_eq!(decode_hex::<4>(b"0123456789"), None);
        assert_eq!(
            decode_hex::<8>(b"0123456789abcdef"),
            Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
        );
    }

    #[test]
    fn every_byte_encodes_as_two_lower_case_digits() {
        for byte in 0..=u8::MAX {
            let mut out = [0u8; 2];
            encode_hex(&[byte], &mut out);
            assert_eq!(out, format!("{byte:02x}").as_bytes());
        }
    }

    #[test]
    fn round_trip() {
        let text = write_traceparent([0x4b; 16], [0xf0; 8], 0x03);
        let trace = parse_traceparent(&text).unwrap();
        assert_eq!(
            (trace.trace_id(), trace.parent_id(), trace.flags()),
            ([0x4b; 16], [0xf0; 8], 0x03)
        );
        assert_eq!(
            traceparent_value([0x4b; 16], [0xf0; 8], 0x03).as_bytes(),
            &text[..]
        );
    }
}
