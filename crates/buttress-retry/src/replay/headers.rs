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
    /// Distinct names: the rebuilt map's capacity.
    keys: usize,
}

impl HeaderCopy {
    /// Copies every entry of `headers`, in order, repeated names included;
    /// `None` for headers of 4 GiB or more in all, whose lengths a
    /// record's `u32` might not say (such a request is sent once, not
    /// kept).
    pub(super) fn new(headers: &HeaderMap) -> Option<Self> {
        if headers.is_empty() {
            return Some(HeaderCopy::default());
        }
        let size: usize = headers
            .iter()
            .map(|(name, value)| RECORD_HEAD + name.as_str().len() + value.len())
            .sum();
        // Every length fits a record's `u32` when their sum does.
        u32::try_from(size).ok()?;
        let mut records = Vec::with_capacity(size);
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            let value_bytes = value.as_bytes();
            let name_len = (name.len() as u32).to_le_bytes();
            let value_len = (value_bytes.len() as u32).to_le_bytes();
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
        Some(HeaderCopy {
            records: Bytes::from(records),
            keys: headers.keys_len(),
        })
    }

    /// The headers again, as they were: same order, same sensitivity;
    /// values share the buffer rather than being copied. `None` only if
    /// an entry no longer parses, which a copy of a valid map cannot do:
    /// then the request is not retried rather than sent without it.
    pub(super) fn map(&self) -> Option<HeaderMap> {
        let mut headers = HeaderMap::try_with_capacity(self.keys).unwrap_or_default();
        let mut at = 0;
        while at < self.records.len() {
            let head = self.records.get(at..at.checked_add(RECORD_HEAD)?)?;
            let length = |from: usize| {
                let le = [head[from], head[from + 1], head[from + 2], head[from + 3]];
                u32::from_le_bytes(le) as usize
            };
            let (name_len, value_len) = (length(0), length(4));
            let sensitive = head[8] == 1;
            let name_at = at + RECORD_HEAD;
            let value_at = name_at.checked_add(name_len)?;
            at = value_at.checked_add(value_len)?;
            // Names are kept lower-case, as every `HeaderName` is; this
            // parser takes all of them (h2's decoder makes some, such as
            // one with a `"`, that `from_bytes` refuses).
            let name = HeaderName::from_lowercase(self.records.get(name_at..value_at)?).ok()?;
            let value = self.records.get(value_at..at)?;
            let mut value = HeaderValue::from_maybe_shared(self.records.slice_ref(value)).ok()?;
            value.set_sensitive(sensitive);
            headers.try_append(name, value).ok()?;
        }
        Some(headers)
    }
}

impl std::fmt::Debug for HeaderCopy {
    // The values may be credentials: only the buffer's length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCopy")
            .field("bytes", &self.records.len())
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
        let copy = HeaderCopy::new(&headers).unwrap();
        let again = copy.map().unwrap();
        assert_eq!(entries(&again), entries(&headers));
        assert_eq!(again.len(), headers.len());
        // And again: the copy is not used up.
        assert_eq!(entries(&copy.map().unwrap()), entries(&headers));
        assert!(!format!("{copy:?}").contains("abc"), "{copy:?}");
    }

    #[test]
    fn no_headers_keep_nothing() {
        let copy = HeaderCopy::new(&HeaderMap::new()).unwrap();
        assert!(copy.records.is_empty());
        assert!(copy.map().unwrap().is_empty());
    }

    #[test]
    fn many_headers_round_trip() {
        let mut headers = HeaderMap::new();
        for i in 0..300 {
            let name = HeaderName::from_bytes(format!("x-h{}", i % 97).as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(&"v".repeat(i)).unwrap());
        }
        let again = HeaderCopy::new(&headers).unwrap().map().unwrap();
        assert_eq!(entries(&again), entries(&headers));
    }

    /// A name h2's decoder accepts (`from_lowercase`) but `from_bytes`
    /// refuses comes back too: a peer's header must not make the retry
    /// panic or drop it.
    #[test]
    fn every_name_a_map_can_hold_comes_back() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_lowercase(b"x-\"quoted\"").unwrap(),
            HeaderValue::from_static("v"),
        );
        assert!(HeaderName::from_bytes(b"x-\"quoted\"").is_err());
        let again = HeaderCopy::new(&headers).unwrap().map().unwrap();
        assert_eq!(entries(&again), entries(&headers));
    }

    /// More values under one name than a map's capacity may be asked for
    /// at once (its capacity counts names, not values).
    #[test]
    fn many_values_under_one_name_come_back() {
        let mut headers = HeaderMap::new();
        for i in 0..30_000 {
            headers.append(COOKIE, HeaderValue::from(i));
        }
        let again = HeaderCopy::new(&headers).unwrap().map().unwrap();
        assert_eq!(again.len(), 30_000);
        assert_eq!(entries(&again), entries(&headers));
    }

    /// A record cut short (a buffer that is not a copy's) gives no map,
    /// not a panic or forged entries.
    #[test]
    fn a_damaged_buffer_gives_no_map() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let copy = HeaderCopy::new(&headers).unwrap();
        for cut in 1..copy.records.len() {
            let damaged = HeaderCopy {
                records: copy.records.slice(..cut),
                keys: 1,
            };
            assert!(damaged.map().is_none(), "cut at {cut}");
        }
    }
}
