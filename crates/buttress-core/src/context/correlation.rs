//! The correlation ID that follows a request across services.

use std::fmt;

use http::HeaderValue;

/// A validated correlation (request) ID.
///
/// Only 1 to [`CorrelationId::MAX_LEN`] bytes of `[A-Za-z0-9._:-]` are
/// accepted by [`parse`](Self::parse): an ID ends up in logs, metrics
/// exemplars and other services' headers, so anything that could inject
/// log lines, blow up storage or smuggle header syntax is refused. Cloning
/// shares the bytes.
///
/// ```
/// use buttress_core::context::CorrelationId;
///
/// let id = CorrelationId::parse(b"req-42.a:b_c").unwrap();
/// assert_eq!(id.as_str(), "req-42.a:b_c");
/// assert!(CorrelationId::parse(b"bad id").is_none());
/// assert!(CorrelationId::parse(&[b'a'; 129]).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(HeaderValue);

impl CorrelationId {
    /// The default maximum length in bytes.
    pub const MAX_LEN: usize = 128;

    /// The default charset as a bit set over ASCII: bit `b` is set when
    /// byte `b` may appear in an ID. One shift and mask per byte instead of
    /// a chain of range checks (the server checks every inbound ID).
    ///
    /// ```
    /// use buttress_core::context::CorrelationId;
    /// assert!(CorrelationId::ALLOWED >> u32::from(b'-') & 1 == 1);
    /// assert!(CorrelationId::ALLOWED >> u32::from(b' ') & 1 == 0);
    /// ```
    pub const ALLOWED: u128 = {
        let mut set = 0u128;
        let mut byte = 0u8;
        while byte < 128 {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-') {
                set |= 1 << byte;
            }
            byte += 1;
        }
        set
    };

    /// Whether every byte of `bytes` is in the ASCII bit set `set`.
    #[inline]
    fn all_in(bytes: &[u8], set: u128) -> bool {
        // Two 64-bit halves: a 128-bit shift per byte costs several
        // instructions. No early exit: the loop runs branch-free.
        let (low, high) = (set as u64, (set >> 64) as u64);
        bytes.iter().fold(true, |ok, &b| {
            let half = if b < 64 { low } else { high };
            ok & (b < 128) & (half >> (b & 63) & 1 == 1)
        })
    }

    /// Whether every byte of `bytes` is in the default charset, by ranges
    /// and without an early exit, which the compiler turns into vector
    /// compares (16 bytes at a time on x86-64).
    #[inline]
    fn all_default(bytes: &[u8]) -> bool {
        bytes.iter().fold(true, |ok, &b| {
            let letter = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            ok & (letter | digit | (b == b'.') | (b == b'_') | (b == b':') | (b == b'-'))
        })
    }

    /// Whether `bytes` is 1 to `max_len` bytes of the default charset.
    #[inline]
    fn is_valid(bytes: &[u8], max_len: usize) -> bool {
        !bytes.is_empty() && bytes.len() <= max_len && Self::all_default(bytes)
    }

    /// Accepts `bytes` if they are 1 to 128 bytes of `[A-Za-z0-9._:-]`.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        Self::parse_with_max_len(bytes, Self::MAX_LEN)
    }

    /// Like [`parse`](Self::parse) with another length limit.
    pub fn parse_with_max_len(bytes: &[u8], max_len: usize) -> Option<Self> {
        if !Self::is_valid(bytes, max_len) {
            return None;
        }
        HeaderValue::from_bytes(bytes).ok().map(CorrelationId)
    }

    /// Accepts an inbound header value under the default rules, keeping
    /// its bytes shared (a trusted, valid ID is forwarded byte for byte).
    #[inline]
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        Self::is_valid(value.as_bytes(), Self::MAX_LEN).then(|| CorrelationId(value.clone()))
    }

    /// Accepts an inbound header value of 1 to `max_len` bytes, each one
    /// in the ASCII bit set `set` (bit `b` for byte `b`, as in
    /// [`ALLOWED`](Self::ALLOWED)) *and* visible ASCII, keeping its bytes
    /// shared: [`from_header_with`](Self::from_header_with) with the
    /// charset as a bit set, checked without a call per byte.
    ///
    /// ```
    /// use buttress_core::context::CorrelationId;
    /// use http::HeaderValue;
    ///
    /// let set = CorrelationId::ALLOWED | 1 << b'+' | 1 << b' ';
    /// assert!(CorrelationId::from_header_in(&HeaderValue::from_static("a+b"), 8, set).is_some());
    /// // Visible ASCII only, whatever the set says.
    /// assert!(CorrelationId::from_header_in(&HeaderValue::from_static("a b"), 8, set).is_none());
    /// assert!(CorrelationId::from_header_in(&HeaderValue::from_static("a+b"), 2, set).is_none());
    /// ```
    #[inline]
    pub fn from_header_in(value: &HeaderValue, max_len: usize, set: u128) -> Option<Self> {
        /// Visible ASCII: `!` (0x21) to `~` (0x7e).
        const GRAPHIC: u128 = ((1 << 0x7f) - 1) & !((1 << 0x21) - 1);
        let bytes = value.as_bytes();
        let set = set & GRAPHIC;
        let ok = match set == Self::ALLOWED {
            true => Self::all_default(bytes),
            false => Self::all_in(bytes, set),
        };
        (ok && !bytes.is_empty() && bytes.len() <= max_len).then(|| CorrelationId(value.clone()))
    }

    /// Accepts an inbound header value under rules of the caller's own:
    /// at most `max_len` bytes, each one `allowed` *and* visible ASCII
    /// (`!`..=`~`), keeping its bytes shared. For services whose IDs use a
    /// wider charset than the default (base64 IDs with `+/=`, say); the
    /// visible-ASCII floor still keeps spaces, control bytes and non-ASCII
    /// out of logs and headers.
    ///
    /// ```
    /// use buttress_core::context::CorrelationId;
    /// use http::HeaderValue;
    ///
    /// let b64 = |b: u8| CorrelationId::is_allowed(b) || matches!(b, b'+' | b'/' | b'=');
    /// let value = HeaderValue::from_static("ab+/cd==");
    /// assert!(CorrelationId::from_header_with(&value, 64, b64).is_some());
    /// assert!(CorrelationId::from_header_with(&value, 4, b64).is_none());
    /// let spaced = HeaderValue::from_static("a b");
    /// assert!(CorrelationId::from_header_with(&spaced, 64, |_| true).is_none());
    /// ```
    pub fn from_header_with(
        value: &HeaderValue,
        max_len: usize,
        allowed: impl Fn(u8) -> bool,
    ) -> Option<Self> {
        let bytes = value.as_bytes();
        if bytes.is_empty()
            || bytes.len() > max_len
            || !bytes.iter().all(|&b| b.is_ascii_graphic() && allowed(b))
        {
            return None;
        }
        Some(CorrelationId(value.clone()))
    }

    /// Wraps a value the caller generated itself (a UUID, a ULID) without
    /// copying its bytes, if it is 1 to [`MAX_LEN`](Self::MAX_LEN) bytes
    /// of the default charset.
    ///
    /// ```
    /// use buttress_core::context::CorrelationId;
    /// use http::HeaderValue;
    ///
    /// let id = CorrelationId::from_generated(HeaderValue::from_static("0190b1c2-7e8f")).unwrap();
    /// assert_eq!(id.as_str(), "0190b1c2-7e8f");
    /// assert!(CorrelationId::from_generated(HeaderValue::from_static("no spaces")).is_none());
    /// ```
    #[inline]
    pub fn from_generated(value: HeaderValue) -> Option<Self> {
        // Checked in place: no clone of the value (a reference count up
        // and down) just to look at its bytes.
        Self::is_valid(value.as_bytes(), Self::MAX_LEN).then_some(CorrelationId(value))
    }

    /// Whether `byte` may appear in an ID under the default charset.
    pub const fn is_allowed(byte: u8) -> bool {
        byte < 128 && Self::ALLOWED >> byte & 1 == 1
    }

    /// The ID as text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Only ASCII was admitted, so this never fails.
        self.0.to_str().unwrap_or_default()
    }

    /// The ID as a header value, to write on responses and outbound calls.
    #[inline]
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The ID as a header value, without a copy or a reference-count
    /// increment (to echo it on a response when the ID is no longer
    /// needed).
    #[inline]
    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_everything_outside_the_charset() {
        for bad in [
            &b""[..],
            b" ",
            b"a b",
            b"a\r\nb",
            b"a/b",
            b"a\"",
            b"\xff",
            b"a;b",
            b"{}",
        ] {
            assert!(CorrelationId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(CorrelationId::parse(&[b'a'; 128]).is_some());
        assert!(CorrelationId::parse_with_max_len(b"abcd", 3).is_none());
        let header = HeaderValue::from_static("0f9a-11");
        assert_eq!(
            CorrelationId::from_header(&header).unwrap().header_value(),
            &header
        );
        assert!(CorrelationId::from_header(&HeaderValue::from_static("a b")).is_none());
    }

    #[test]
    fn the_bit_set_is_the_charset() {
        for byte in 0..=u8::MAX {
            let by_ranges =
                byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-');
            assert_eq!(CorrelationId::is_allowed(byte), by_ranges, "{byte}");
            let one = [byte];
            assert_eq!(CorrelationId::parse(&one).is_some(), by_ranges, "{byte}");
            assert_eq!(
                CorrelationId::all_in(&one, CorrelationId::ALLOWED),
                by_ranges
            );
        }
        let all = HeaderValue::from_static("!~");
        assert!(CorrelationId::from_header_in(&all, 2, u128::MAX).is_some());
        let tab = HeaderValue::from_bytes(b"a\tb").unwrap();
        assert!(CorrelationId::from_header_in(&tab, 8, u128::MAX).is_none());
    }
}
