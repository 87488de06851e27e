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

/// Where each of a UUID's 16 bytes goes in its hyphenated text.
const UUID_DIGITS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// The hyphenated lower-case text of a UUID's bytes. Every position is a
/// constant, so the loop unrolls into sixteen loads and stores with no
/// bounds checks (a public edge mints one per request).
pub(crate) fn encode_uuid(bytes: &[u8; 16]) -> [u8; 36] {
    let mut text = [b'-'; 36];
    for (byte, at) in bytes.iter().zip(UUID_DIGITS) {
        let [high, low] = HEX_PAIRS[usize::from(*byte)];
        text[at] = high;
        text[at + 1] = low;
    }
    text
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

    #[test]
    fn a_uuid_is_written_as_uuid_writes_it() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..1_000 {
            let mut bytes = [0u8; 16];
            for byte in &mut bytes {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            let text = encode_uuid(&bytes);
            let expected = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            assert_eq!(std::str::from_utf8(&text).unwrap(), expected);
        }
    }
}
