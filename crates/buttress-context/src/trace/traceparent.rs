//! The `traceparent` header: `version-traceid-parentid-flags`.

use std::fmt;

use buttress_core::context::TraceContext;
use bytes::Bytes;
use http::HeaderValue;

/// The length of a version-00 `traceparent`: `2 + 1 + 32 + 1 + 16 + 1 + 2`.
pub const TRACEPARENT_LEN: usize = 55;

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
/// - flags: two lower-case hex digits, kept as sent;
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
    let mut trace_id = [0u8; 16];
    decode_hex(&value[3..35], &mut trace_id).ok_or(TraceparentError::TraceId)?;
    if trace_id == [0; 16] {
        return Err(TraceparentError::TraceId);
    }
    let mut parent_id = [0u8; 8];
    decode_hex(&value[36..52], &mut parent_id).ok_or(TraceparentError::ParentId)?;
    if parent_id == [0; 8] {
        return Err(TraceparentError::ParentId);
    }
    let flags = hex_byte(value[53], value[54]).ok_or(TraceparentError::Flags)?;
    Ok(TraceContext::new(trace_id, parent_id, flags))
}

/// Writes a version-00 `traceparent` into a stack buffer.
///
/// ```
/// use buttress_context::trace::write_traceparent;
/// let text = write_traceparent([0xab; 16], [0x01; 8], 0x01);
/// assert_eq!(&text[..], b"00-abababababababababababababababab-0101010101010101-01");
/// ```
pub fn write_traceparent(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> [u8; TRACEPARENT_LEN] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    encode_hex(&trace_id, &mut out[3..35]);
    encode_hex(&span_id, &mut out[36..52]);
    encode_hex(&[flags], &mut out[53..55]);
    out
}

/// A version-00 `traceparent` header value, in one allocation.
pub fn traceparent_value(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(write_traceparent(
        trace_id, span_id, flags,
    )))
    .expect("lower-case hex and dashes are a valid header value")
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(high: u8, low: u8) -> Option<u8> {
    Some(hex_digit(high)? << 4 | hex_digit(low)?)
}

fn decode_hex(text: &[u8], out: &mut [u8]) -> Option<()> {
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = hex_byte(pair[0], pair[1])?;
    }
    Some(())
}

fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
