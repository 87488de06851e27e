//! The `tracestate` header: validated, then capped at 32 members and 512
//! characters by dropping whole entries.
//!
//! The spec lets a vendor propagate less than it received, but never a
//! piece of an entry. So [`limit`] validates every member (a header with
//! one invalid member or a repeated key is dropped whole: we cannot tell
//! which vendor's state is the damaged one), keeps the first 32, and — if
//! they still exceed 512 characters — drops entries longer than 128
//! characters first, then entries from the end, as the spec recommends.
//! A header already within the limits is forwarded byte for byte, sharing
//! its bytes; only a header that had to be cut is rebuilt (one allocation).
//!
//! ```
//! use buttress_context::trace::tracestate::limit;
//! use http::HeaderValue;
//!
//! let state = HeaderValue::from_static("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE");
//! assert_eq!(limit([&state]).unwrap(), state);
//!
//! let upper = HeaderValue::from_static("Rojo=1");
//! assert_eq!(limit([&upper]), None);
//! ```

use http::HeaderValue;

/// The most members propagated.
pub const MAX_MEMBERS: usize = 32;

/// The most characters propagated (members joined by `,`).
pub const MAX_LEN: usize = 512;

/// Entries longer than this are the first dropped when cutting.
pub const LARGE_ENTRY: usize = 128;

/// Input longer than this, over all `tracestate` lines, is dropped without
/// being read: it bounds the work a hostile header can cause.
pub const MAX_INPUT_LEN: usize = 8 * 1024;

/// What to forward of the `tracestate` lines `values` (in order, e.g.
/// `&headers.get_all("tracestate")`): `None` when there is nothing valid
/// to forward.
pub fn limit<'a, I>(values: I) -> Option<HeaderValue>
where
    I: IntoIterator<Item = &'a HeaderValue> + Copy,
{
    let mut lines = 0usize;
    let mut total = 0usize;
    for value in values {
        lines += 1;
        total += value.len();
        if total > MAX_INPUT_LEN {
            return None;
        }
    }
    let first = values.into_iter().next()?;

    // Each kept member as (whole member text, key length).
    let mut kept: [(&[u8], usize); MAX_MEMBERS] = [(&[], 0); MAX_MEMBERS];
    let mut count = 0usize;
    let mut dropped = false;
    for value in values {
        for piece in value.as_bytes().split(|&b| b == b',') {
            let member = trim_ows(piece);
            if member.is_empty() {
                continue;
            }
            let key = member_key(member)?;
            if kept[..count]
                .iter()
                .any(|(text, key_len)| &text[..*key_len] == key)
            {
                return None;
            }
            if count < MAX_MEMBERS {
                kept[count] = (member, key.len());
                count += 1;
            } else {
                dropped = true;
            }
        }
    }
    if count == 0 {
        return None;
    }
    if lines == 1 && !dropped && total <= MAX_LEN {
        return Some(first.clone());
    }

    let members = &kept[..count];
    let mut keep = [true; MAX_MEMBERS];
    let mut length = members.iter().map(|(text, _)| text.len()).sum::<usize>() + members.len() - 1;
    for (i, (text, _)) in members.iter().enumerate() {
        if length <= MAX_LEN {
            break;
        }
        if text.len() > LARGE_ENTRY {
            keep[i] = false;
            length = length.saturating_sub(text.len() + 1);
        }
    }
    for i in (0..members.len()).rev() {
        if length <= MAX_LEN {
            break;
        }
        if keep[i] {
            keep[i] = false;
            length = length.saturating_sub(members[i].0.len() + 1);
        }
    }

    let mut out = [0u8; MAX_LEN];
    let mut len = 0;
    for ((text, _), _) in members.iter().zip(keep).filter(|(_, keep)| *keep) {
        if len > 0 {
            out[len] = b',';
            len += 1;
        }
        out[len..len + text.len()].copy_from_slice(text);
        len += text.len();
    }
    if len == 0 {
        return None;
    }
    HeaderValue::from_bytes(&out[..len]).ok()
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The key of a valid `key=value` member, or `None` if it is invalid.
fn member_key(member: &[u8]) -> Option<&[u8]> {
    let eq = member.iter().position(|&b| b == b'=')?;
    let (key, value) = (&member[..eq], &member[eq + 1..]);
    (is_valid_key(key) && is_valid_value(value)).then_some(key)
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

/// `simple-key = lcalpha 0*255(keychar)`, or
/// `tenant-id "@" system-id` with `tenant-id = (lcalpha / DIGIT) 0*240(keychar)`
/// and `system-id = lcalpha 0*13(keychar)`.
fn is_valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&b| b == b'@') {
        None => {
            matches!(key, [first, ..] if first.is_ascii_lowercase())
                && key.len() <= 256
                && key.iter().all(|&b| is_key_char(b))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            matches!(tenant, [first, ..] if first.is_ascii_lowercase() || first.is_ascii_digit())
                && tenant.len() <= 241
                && tenant.iter().all(|&b| is_key_char(b))
                && matches!(system, [first, ..] if first.is_ascii_lowercase())
                && system.len() <= 14
                && system.iter().all(|&b| is_key_char(b))
        }
    }
}

/// `value = 0*255(chr) nblk-chr`: 1 to 256 printable ASCII characters
/// other than `,` and `=`, not ending in a space.
fn is_valid_value(value: &[u8]) -> bool {
    let printable = |b: u8| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=';
    matches!(value.last(), Some(&last) if last != b' ')
        && value.len() <= 256
        && value.iter().all(|&b| printable(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Option<String> {
        let value = HeaderValue::from_str(text).unwrap();
        limit([&value]).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn keys_follow_the_grammar() {
        assert!(is_valid_key(b"congo"));
        assert!(is_valid_key(b"a_b-c*d/e"));
        assert!(is_valid_key(b"1tenant@sys"));
        assert!(!is_valid_key(b"1abc"));
        assert!(!is_valid_key(b"Abc"));
        assert!(!is_valid_key(b""));
        assert!(!is_valid_key(b"t@"));
        assert!(!is_valid_key(b"t@1sys"));
        assert!(!is_valid_key(b"t@abcdefghijklmno"));
    }

    #[test]
    fn whitespace_and_empty_members_are_allowed() {
        assert_eq!(one(" a=1 ,\t, b=2 ").as_deref(), Some(" a=1 ,\t, b=2 "));
        assert_eq!(one(" , "), None);
    }

    #[test]
    fn values_end_without_a_space() {
        assert_eq!(one("a=1 "), Some("a=1 ".into()));
        assert_eq!(one("a=1 x"), Some("a=1 x".into()));
        assert_eq!(one("a="), None);
        assert_eq!(one("a=b=c"), None);
    }
}
