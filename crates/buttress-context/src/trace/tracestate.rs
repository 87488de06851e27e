//! The `tracestate` header: validated (at most 32 members), then cut to
//! 512 characters by dropping whole entries.
//!
//! The rules are the current W3C Trace Context grammar (the editor's
//! draft that w3c/trace-context's `test/test.py` checks at its strict
//! level):
//!
//! - a key is `( lcalpha / DIGIT ) 0*255 ( keychar )`, `keychar` being
//!   `lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`: up to 256
//!   characters, `@` anywhere but first;
//! - a value is 1 to 256 printable ASCII characters other than `,` and
//!   `=`, not ending in a space;
//! - a list holds at most 32 members (`list = list-member 0*31( OWS "," OWS
//!   list-member )`); empty and whitespace-only members are allowed.
//!
//! [`limit`] validates every member and refuses the whole header — every
//! line of it — when one member is invalid or there are more than 32:
//! such a header is not a `list`, and we cannot tell which vendor's state
//! is the damaged one (the processing model lets a vendor discard a
//! header it cannot parse). Repeated keys are *not* a reason to drop it:
//! the spec lets a vendor pass them on as they came or discard the ones
//! it did not write, and dropping the header would lose every other
//! vendor's state, so they are passed on as received. A valid header
//! longer than 512 characters loses entries longer than 128 characters
//! first, then entries from the end, as the spec recommends ("the vendor
//! MUST truncate whole entries").
//!
//! A header already within the limits (one line, at most 32 pieces
//! between commas, at most 512 characters) is forwarded byte for byte,
//! sharing its bytes; any other is rebuilt from its members, without the
//! empty ones (one allocation).
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
//!
//! let repeated = HeaderValue::from_static("foo=1,foo=2");
//! assert_eq!(limit([&repeated]).unwrap(), repeated);
//! ```

use http::HeaderValue;

/// The most members a `tracestate` list may hold; a header with more is
/// refused whole.
pub const MAX_MEMBERS: usize = 32;

/// The most characters propagated (members joined by `,`).
pub const MAX_LEN: usize = 512;

/// Entries longer than this are the first dropped when cutting.
pub const LARGE_ENTRY: usize = 128;

/// The longest key the grammar allows.
pub const MAX_KEY_LEN: usize = 256;

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

    // Each member's text, OWS trimmed; empty members are not kept.
    let mut kept: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
    let mut count = 0usize;
    // Pieces between commas, empty ones included.
    let mut pieces = 0usize;
    for value in values {
        for piece in value.as_bytes().split(|&b| b == b',') {
            pieces += 1;
            let member = trim_ows(piece);
            if member.is_empty() {
                continue;
            }
            if count == MAX_MEMBERS || !is_valid_member(member) {
                return None;
            }
            kept[count] = member;
            count += 1;
        }
    }
    if count == 0 {
        return None;
    }
    if lines == 1 && pieces <= MAX_MEMBERS && total <= MAX_LEN {
        return Some(first.clone());
    }

    let members = &kept[..count];
    let mut keep = [true; MAX_MEMBERS];
    let mut length = members.iter().map(|text| text.len()).sum::<usize>() + members.len() - 1;
    for (i, text) in members.iter().enumerate() {
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
            length = length.saturating_sub(members[i].len() + 1);
        }
    }

    let mut out = [0u8; MAX_LEN];
    let mut len = 0;
    for (text, _) in members.iter().zip(keep).filter(|(_, keep)| *keep) {
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

/// Whether `member` (OWS trimmed, not empty) is a valid `key=value`.
fn is_valid_member(member: &[u8]) -> bool {
    let Some(eq) = member.iter().position(|&b| b == b'=') else {
        return false;
    };
    is_valid_key(&member[..eq]) && is_valid_value(&member[eq + 1..])
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`.
fn is_valid_key(key: &[u8]) -> bool {
    matches!(key, [first, ..] if first.is_ascii_lowercase() || first.is_ascii_digit())
        && key.len() <= MAX_KEY_LEN
        && key.iter().all(|&b| is_key_char(b))
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
        // A digit may start a key; `@` may appear anywhere after the
        // first character, any number of times.
        assert!(is_valid_key(b"1abc"));
        assert!(is_valid_key(b"t@"));
        assert!(is_valid_key(b"t@1sys"));
        assert!(is_valid_key(b"t@abcdefghijklmno"));
        assert!(is_valid_key(b"foo@@bar"));
        assert!(is_valid_key(&[b'z'; 256]));
        assert!(!is_valid_key(&[b'z'; 257]));
        assert!(!is_valid_key(b"@foo"));
        assert!(!is_valid_key(b"Abc"));
        assert!(!is_valid_key(b"foo.bar"));
        assert!(!is_valid_key(b""));
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
