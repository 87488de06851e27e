//! Lower-case hex digits, two at a time.

/// Each byte's two lower-case hex digits: one load and one two-byte store
/// per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    pairs
};

/// Writes `bytes` as lower-case hex digits to `out` (twice as long); the
/// one encoder of the crate (traceparent fields, minted IDs).
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    let (pairs, _) = out.as_chunks_mut::<2>();
    for (byte, pair) in bytes.iter().zip(pairs) {
        *pair = HEX_PAIRS[usize::from(*byte)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_byte_as_its_two_digits() {
        let bytes: Vec<u8> = (0..=u8::MAX).collect();
        let mut out = vec![0u8; 512];
        encode_hex(&bytes, &mut out);
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(out, expected.as_bytes());
    }
}
