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

    /// Accepts `bytes` if they are 1 to 128 bytes of `[A-Za-z0-9._:-]`.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        Self::parse_with_max_len(bytes, Self::MAX_LEN)
    }

    /// Like [`parse`](Self::parse) with another length limit.
    pub fn parse_with_max_len(bytes: &[u8], max_len: usize) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > max_len || !bytes.iter().all(|&b| Self::is_allowed(b))
        {
            return None;
        }
        HeaderValue::from_bytes(bytes).ok().map(CorrelationId)
    }

    /// Accepts an inbound header value under the default rules, keeping
    /// its bytes shared (a trusted, valid ID is forwarded byte for byte).
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        if bytes.is_empty()
            || bytes.len() > Self::MAX_LEN
            || !bytes.iter().all(|&b| Self::is_allowed(b))
        {
            return None;
        }
        Some(CorrelationId(value.clone()))
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
    pub fn from_generated(value: HeaderValue) -> Option<Self> {
        Self::from_header(&value).map(|_| CorrelationId(value))
    }

    /// Whether `byte` may appear in an ID under the default charset.
    pub const fn is_allowed(byte: u8) -> bool {
        byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-')
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII was admitted, so this never fails.
        self.0.to_str().unwrap_or_default()
    }

    /// The ID as a header value, to write on responses and outbound calls.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
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
}
