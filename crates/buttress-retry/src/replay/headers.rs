//! [`HeaderCopy`]: a request's headers kept for a retry in one buffer.
//!
//! Cloning a `HeaderMap` (or each of its entries) costs an allocation per
//! value built from a `&str` or a `Vec` — `bytes` turns such a value into
//! a shared one on its first clone — and one per custom name, on every
//! request that may be retried, though few are. Here every name and value
//! is copied into one buffer instead: one allocation, whatever the values
//! are, and the original request keeps its values untouched. The map is
//! rebuilt only for an actual retry, its values sliced from the buffer.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Each entry's record: name length, value length (both `u32`, little
/// endian), whether the value is sensitive, then the name and the value.
const RECORD_HEAD: usize = 4 + 4 + 1;

/// The headers of a request, kept to send it again.
#[derive(Default)]
pub(super) struct HeaderCopy {
    records: Bytes,
    len: usize,
}

impl HeaderCopy {
    /// Copies every entry of `headers`, in order, repeated names included.
    pub(super) fn new(headers: &HeaderMap) -> Self {
        if headers.is_empty() {
            return HeaderCopy::default();
        }
        let size: usize = headers
            .iter()
            .map(|(name, value)| RECORD_HEAD + name.as_str().len() + value.len())
            .sum();
        let mut records = Vec::with_capacity(size);
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            let value_bytes = value.as_bytes();
            // A name or value of 4 GiB is no header anyone sends; `http`
            // has no limit of its own, so saturate rather than wrap (the
            // lengths then disagree with the bytes, and `map` stops).
            let name_len = u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes();
            let value_len = u32::try_from(value_bytes.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes();
            let head = [
                name_len[0],
                name_len[1],
                name_len[2],
                name_len[3],
                value_len[0],
                value_len[1],
                value_len[2],
                value_len[3],
                u8::from(value.is_sensitive()),
            ];
            records.extend_from_slice(&head);
            records.extend_from_slice(name);
            records.extend_from_slice(value_bytes);
        }
        HeaderCopy {
            records: Bytes::from(records),
            len: headers.len(),
        }
    }

    /// The headers again, as they were: same order, same sensitivity;
    /// values share the buffer rather than being copied.
    pub(super) fn map(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.len);
        let mut at = 0;
        while at + RECORD_HEAD <= self.records.len() {
            let length = |from: usize| {
                let le: [u8; 4] = self.records[from..from + 4].try_into().expect("four bytes");
                u32::from_le_bytes(le) as usize
            };
            let (name_len, value_len) = (length(at), length(at + 4));
            let sensitive = self.records[at + 8] == 1;
            let name_at = at + RECORD_HEAD;
            let value_at = name_at + name_len;
            at = value_at + value_len;
            let (Some(name), Some(_)) = (
                self.records.get(name_at..value_at),
                self.records.get(value_at..at),
            ) else {
                break;
            };
            // Both were a valid name and value when copied: parsing them
            // again cannot fail.
            let name = HeaderName::from_bytes(name).expect("copied from a valid header name");
            let mut value = HeaderValue::from_maybe_shared(self.records.slice(value_at..at))
                .expect("copied from a valid header value");
            value.set_sensitive(sensitive);
            headers.append(name, value);
        }
        headers
    }
}

impl std::fmt::Debug for HeaderCopy {
    // The values may be credentials: only their number is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCopy")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, AUTHORIZATION, COOKIE};

    fn entries(headers: &HeaderMap) -> Vec<(String, Vec<u8>, bool)> {
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec(), v.is_sensitive()))
            .collect()
    }

    #[test]
    fn a_map_comes_back_as_it_was() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut token = HeaderValue::from_str("Bearer abc").unwrap();
        token.set_sensitive(true);
        headers.insert(AUTHORIZATION, token);
        // Repeated names keep their order; custom names and obs-text
        // values survive; an empty value is a value.
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        headers.insert(
            HeaderName::from_bytes(b"x-tenant").unwrap(),
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        headers.insert(
            HeaderName::from_bytes(b"x-empty").unwrap(),
            HeaderValue::from_static(""),
        );
        let copy = HeaderCopy::new(&headers);
        let again = copy.map();
        assert_eq!(entries(&again), entries(&headers));
        assert_eq!(again.len(), headers.len());
        // And again: the copy is not used up.
        assert_eq!(entries(&copy.map()), entries(&headers));
        assert!(!format!("{copy:?}").contains("abc"), "{copy:?}");
    }

    #[test]
    fn no_headers_keep_nothing() {
        let copy = HeaderCopy::new(&HeaderMap::new());
        assert!(copy.records.is_empty());
        assert!(copy.map().is_empty());
    }

    #[test]
    fn many_headers_round_trip() {
        let mut headers = HeaderMap::new();
        for i in 0..300 {
            let name = HeaderName::from_bytes(format!("x-h{}", i % 97).as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(&"v".repeat(i)).unwrap());
        }
        assert_eq!(entries(&HeaderCopy::new(&headers).map()), entries(&headers));
    }
}
