//! [`HeadCopy`]: a request's URI and headers kept for a retry in one
//! buffer.
//!
//! Cloning a `HeaderMap` (or each of its entries) costs an allocation per
//! value built from a `&str` or a `Vec` — `bytes` turns such a value into
//! a shared one on its first clone — and one per custom name, on every
//! request that may be retried, though few are. A URI parsed from text
//! (what `Request::builder().uri(..)` and reqwest make) costs one more.
//! Here the URI's parts and every header name and value are copied into
//! one buffer instead: one allocation, whatever they are, and the
//! original request keeps its own untouched. The URI and the map are
//! rebuilt only for an actual retry, sliced from the buffer.

use bytes::Bytes;
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// The URI's record: which parts it has (a bit each: scheme, authority,
/// path and query), their three lengths (`u32`, little endian), then the
/// parts, each exactly as the URI holds it.
const URI_HEAD: usize = 1 + 3 * 4;

/// Each header's record: name length, value length (both `u32`, little
/// endian), whether the value is sensitive, then the name and the value.
const RECORD_HEAD: usize = 4 + 4 + 1;

/// The URI and headers of a request, kept to send it again.
#[derive(Default)]
pub(super) struct HeadCopy {
    /// The URI's record, then the headers'. Empty for a request with no
    /// headers and the default URI (`/`, what `Request::new` makes),
    /// which is kept without allocating.
    records: Bytes,
    /// Distinct names: the rebuilt map's capacity.
    keys: usize,
}

/// The URI's parts as it holds them.
fn uri_parts(uri: &Uri) -> [Option<&str>; 3] {
    [
        uri.scheme_str(),
        uri.authority().map(Authority::as_str),
        uri.path_and_query().map(PathAndQuery::as_str),
    ]
}

/// Whether `uri` is the default one, `/` alone.
fn is_default(uri: &Uri) -> bool {
    uri_parts(uri) == [None, None, Some("/")]
}

fn le(len: usize) -> [u8; 4] {
    // Every length fits: the caller checked that their sum does.
    (len as u32).to_le_bytes()
}

impl HeadCopy {
    /// Copies the URI's parts and every entry of `headers`, in order,
    /// repeated names included; `None` for a head of 4 GiB or more in
    /// all, whose lengths a record's `u32` might not say (such a request
    /// is sent once, not kept).
    pub(super) fn new(uri: &Uri, headers: &HeaderMap) -> Option<Self> {
        if headers.is_empty() && is_default(uri) {
            return Some(HeadCopy::default());
        }
        let parts = uri_parts(uri);
        let uri_size: usize =
            URI_HEAD + parts.iter().flatten().map(|part| part.len()).sum::<usize>();
        let size: usize = headers
            .iter()
            .map(|(name, value)| RECORD_HEAD + name.as_str().len() + value.len())
            .sum();
        let size = size.checked_add(uri_size)?;
        // Every length fits a record's `u32` when their sum does.
        u32::try_from(size).ok()?;
        let mut records = Vec::with_capacity(size);
        let present = parts
            .iter()
            .enumerate()
            .fold(0u8, |bits, (i, part)| bits | u8::from(part.is_some()) << i);
        records.push(present);
        for part in parts {
            records.extend_from_slice(&le(part.map_or(0, str::len)));
        }
        for part in parts.into_iter().flatten() {
            records.extend_from_slice(part.as_bytes());
        }
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            let value_bytes = value.as_bytes();
            let (name_len, value_len) = (le(name.len()), le(value_bytes.len()));
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
        Some(HeadCopy {
            records: Bytes::from(records),
            keys: headers.keys_len(),
        })
    }

    /// The URI again, its parts sharing the buffer, and where the header
    /// records start. `None` only if a part no longer parses, which a copy
    /// of a valid URI cannot do: then the request is not retried.
    fn uri(&self) -> Option<(Uri, usize)> {
        if self.records.is_empty() {
            return Some((Uri::from_static("/"), 0));
        }
        let head = self.records.get(..URI_HEAD)?;
        let present = head[0];
        let mut at = URI_HEAD;
        let mut part = |i: usize| -> Option<Option<Bytes>> {
            let from = 1 + 4 * i;
            let len =
                u32::from_le_bytes([head[from], head[from + 1], head[from + 2], head[from + 3]]);
            let end = at.checked_add(len as usize)?;
            let bytes = self.records.get(at..end)?;
            at = end;
            Some((present & (1 << i) != 0).then(|| self.records.slice_ref(bytes)))
        };
        let (scheme, authority, path) = (part(0)?, part(1)?, part(2)?);
        let mut parts = Parts::default();
        if let Some(scheme) = scheme {
            parts.scheme = Some(Scheme::try_from(&scheme[..]).ok()?);
        }
        if let Some(authority) = authority {
            parts.authority = Some(Authority::from_maybe_shared(authority).ok()?);
        }
        if let Some(path) = path {
            parts.path_and_query = Some(PathAndQuery::from_maybe_shared(path).ok()?);
        }
        Some((Uri::from_parts(parts).ok()?, at))
    }

    /// The URI and headers again, as they were: the same parts, the same
    /// entries in the same order and sensitivity, sharing the buffer
    /// rather than copied. `None` only if a record no longer parses, which
    /// a copy of a valid head cannot do: then the request is not retried
    /// rather than sent without it.
    pub(super) fn head(&self) -> Option<(Uri, HeaderMap)> {
        let (uri, mut at) = self.uri()?;
        let mut headers = HeaderMap::try_with_capacity(self.keys).unwrap_or_default();
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
        // A buffer cut at a record's end parses; it lacks names.
        (headers.keys_len() == self.keys).then_some((uri, headers))
    }
}

impl std::fmt::Debug for HeadCopy {
    // The values (and the URI's query) may be credentials: only the
    // buffer's length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadCopy")
            .field("bytes", &self.records.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, AUTHORIZATION, COOKIE};

    /// `headers` copied with the default URI and rebuilt.
    fn round_trip(headers: &HeaderMap) -> HeaderMap {
        let copy = HeadCopy::new(&Uri::default(), headers).unwrap();
        copy.head().unwrap().1
    }

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
        let copy = HeadCopy::new(&Uri::default(), &headers).unwrap();
        let again = copy.head().unwrap().1;
        assert_eq!(entries(&again), entries(&headers));
        assert_eq!(again.len(), headers.len());
        // And again: the copy is not used up.
        assert_eq!(entries(&copy.head().unwrap().1), entries(&headers));
        assert!(!format!("{copy:?}").contains("abc"), "{copy:?}");
    }

    #[test]
    fn no_headers_keep_nothing() {
        let copy = HeadCopy::new(&Uri::default(), &HeaderMap::new()).unwrap();
        assert!(copy.records.is_empty());
        assert!(copy.head().unwrap().1.is_empty());
    }

    #[test]
    fn many_headers_round_trip() {
        let mut headers = HeaderMap::new();
        for i in 0..300 {
            let name = HeaderName::from_bytes(format!("x-h{}", i % 97).as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(&"v".repeat(i)).unwrap());
        }
        let again = round_trip(&headers);
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
        let again = round_trip(&headers);
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
        let again = round_trip(&headers);
        assert_eq!(again.len(), 30_000);
        assert_eq!(entries(&again), entries(&headers));
    }

    /// A record cut short (a buffer that is not a copy's) gives no map,
    /// not a panic or forged entries.
    #[test]
    fn a_damaged_buffer_gives_no_map() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let copy = HeadCopy::new(&Uri::default(), &headers).unwrap();
        for cut in 1..copy.records.len() {
            let damaged = HeadCopy {
                records: copy.records.slice(..cut),
                keys: 1,
            };
            assert!(damaged.head().is_none(), "cut at {cut}");
        }
    }

    /// Every form of URI a request can carry comes back equal, part by
    /// part: origin form with a query, absolute form (with and without a
    /// path, with user info and a port), authority form (`CONNECT`),
    /// asterisk form (`OPTIONS *`) and a scheme of its own.
    #[test]
    fn every_form_of_uri_comes_back() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        for uri in [
            "/",
            "/orders?id=7&sort=asc",
            "http://inventory:8080/items/9?fields=a,b",
            "https://user:pw@example.com",
            "example.com:443",
            "*",
            "grpc+unix://socket/svc.Method",
        ] {
            let uri: Uri = uri.parse().unwrap();
            for headers in [HeaderMap::new(), headers.clone()] {
                let copy = HeadCopy::new(&uri, &headers).unwrap();
                let (again, map) = copy.head().unwrap();
                assert_eq!(again, uri);
                assert_eq!(uri_parts(&again), uri_parts(&uri), "{uri}");
                assert_eq!(entries(&map), entries(&headers));
            }
        }
    }

    /// The URI's query is not shown by `Debug` either (it may hold a
    /// token).
    #[test]
    fn debug_shows_no_part_of_the_uri() {
        let uri: Uri = "/cb?token=s3cret".parse().unwrap();
        let copy = HeadCopy::new(&uri, &HeaderMap::new()).unwrap();
        assert!(!format!("{copy:?}").contains("s3cret"), "{copy:?}");
    }

    /// A URI record cut short, or a buffer ending right after the URI,
    /// gives nothing: the headers are not dropped silently.
    #[test]
    fn a_damaged_uri_record_gives_nothing() {
        let uri: Uri = "http://inventory:8080/items".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        let copy = HeadCopy::new(&uri, &headers).unwrap();
        let uri_end = URI_HEAD + "http".len() + "inventory:8080".len() + "/items".len();
        for cut in 1..=uri_end {
            let damaged = HeadCopy {
                records: copy.records.slice(..cut),
                keys: 1,
            };
            assert!(damaged.head().is_none(), "cut at {cut}");
        }
    }
}
