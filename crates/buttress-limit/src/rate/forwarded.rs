//! The client address behind a chain of trusted proxies.
//!
//! Each proxy appends the address it received the request from, so the
//! rightmost entries of `X-Forwarded-For` / `Forwarded` are the ones our
//! own proxies wrote, and everything to their left is what the client
//! claimed. Walking right to left past addresses the [`TrustPolicy`]
//! trusts, the first untrusted address is the client: the one a client
//! cannot choose. Headers are only read when the peer itself is trusted;
//! otherwise a caller could pick its own key.
//!
//! The walk reads only what it needs, from the right, as nginx's
//! `real_ip_recursive` and Envoy's `xff_num_trusted_hops` do: whatever a
//! client pads to the left of its own address (a 4 KiB chain, garbage,
//! invented hops) is never looked at. When a trusted hop's report cannot
//! be read to its end — an entry that is not an address (`unknown`, an
//! obfuscated name, garbage), more than [`MAX_HOPS`] trusted hops, more
//! than [`MAX_BYTES`] bytes before the client — the request is
//! [`Client::Unattributable`]: keyed apart from every address, and never
//! as the proxy, whose own quota a client could otherwise spend.

use std::net::{IpAddr, Ipv6Addr};

use buttress_core::TrustPolicy;
use buttress_core::context::TrustRequest;
use http::HeaderName;

/// Hops looked at before giving up: a chain of more trusted hops than
/// this is unattributable.
pub(crate) const MAX_HOPS: usize = 32;
/// Header bytes looked at, from the right, over every line of the field:
/// a client not found within them is unattributable.
pub(crate) const MAX_BYTES: usize = 4096;

/// Which header the trusted proxies maintain. Name the one they write
/// (and strip from what they receive): a client can send the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ForwardedHeader::Forwarded => http::header::FORWARDED,
        }
    }

    fn parse(self, element: &[u8]) -> Option<IpAddr> {
        match self {
            ForwardedHeader::XForwardedFor => parse_node(element.trim_ascii()),
            ForwardedHeader::Forwarded => parse_forwarded_for(element),
        }
    }
}

/// Who sent a request, as far as the peer and its forwarded chain tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// This address: the peer's, the one the trusted proxies forwarded,
    /// or — when every hop is a trusted proxy — the leftmost of them.
    Address(IpAddr),
    /// A trusted proxy forwarded a chain the walk could not read to the
    /// client (see the module documentation).
    Unattributable,
}

/// The client of `request`: the peer's address, unless the peer is a
/// trusted proxy, then the rightmost forwarded address that is not itself
/// a trusted proxy — or [`Client::Unattributable`] when a trusted hop's
/// report cannot be read (see the module documentation). `None` without
/// a known peer.
///
/// Entries are trimmed with std's `trim_ascii`: of the ASCII whitespace
/// it strips, a header value can hold only the optional whitespace (SP,
/// HTAB) that HTTP allows around list elements, so it trims exactly that.
/// Empty list elements are skipped, as RFC 9110 (section 5.6.1) asks.
pub(crate) fn client(
    request: &TrustRequest<'_>,
    trust: &TrustPolicy,
    header: ForwardedHeader,
) -> Option<Client> {
    let peer = request.peer_ip()?;
    if !trust.trusts(request) {
        return Some(Client::Address(peer));
    }
    let mut last_trusted = peer;
    let mut hops = 0;
    let mut budget = MAX_BYTES;
    for value in request.headers.get_all(header.name()).iter().rev() {
        let value = value.as_bytes();
        // Only the rightmost `budget` bytes are read; an element cut by
        // that bound is not an address.
        let start = value.len().saturating_sub(budget);
        let window = &value[start..];
        budget -= window.len();
        let mut elements = window.rsplit(|b| *b == b',').peekable();
        while let Some(element) = elements.next() {
            if start > 0 && elements.peek().is_none() {
                return Some(Client::Unattributable);
            }
            if element.trim_ascii().is_empty() {
                continue;
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Some(Client::Unattributable);
            }
            match header.parse(element) {
                Some(ip) if trust.trusts_ip(ip) => last_trusted = ip,
                Some(ip) => return Some(Client::Address(ip)),
                None => return Some(Client::Unattributable),
            }
        }
    }
    // Every hop was a trusted proxy (or none was forwarded): the
    // leftmost one is as close to the client as we know.
    Some(Client::Address(last_trusted))
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    if node.is_empty() || node.len() > 64 {
        return None;
    }
    let text = std::str::from_utf8(node).ok()?;
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return addr
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (addr, port) = text.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
}

/// The `for=` node of one `Forwarded` element (`for=...;proto=...`).
fn parse_forwarded_for(element: &[u8]) -> Option<IpAddr> {
    for pair in element.split(|b| *b == b';') {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|b| *b == b'=')?;
        let (name, value) = (&pair[..eq], &pair[eq + 1..]);
        if !name.eq_ignore_ascii_case(b"for") {
            continue;
        }
        let node = match value {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => inner,
            [b'"', ..] => return None,
            _ => value,
        };
        // `unknown` and obfuscated `_names` are not addresses.
        return parse_node(node);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::context::PeerAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn from(peer: &str, header: &str, values: &[&str]) -> http::Request<()> {
        let mut req = http::Request::new(());
        req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        for value in values {
            req.headers_mut().append(
                HeaderName::from_bytes(header.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        req
    }

    fn client_of(req: &http::Request<()>, header: ForwardedHeader) -> Option<IpAddr> {
        match walk(req, header)? {
            Client::Address(ip) => Some(ip),
            Client::Unattributable => panic!("unattributable"),
        }
    }

    fn walk(req: &http::Request<()>, header: ForwardedHeader) -> Option<Client> {
        let trust = TrustPolicy::peers(["10.0.0.0/8"]).unwrap();
        client(&TrustRequest::of(req), &trust, header)
    }

    const UNATTRIBUTABLE: Option<Client> = Some(Client::Unattributable);

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn an_untrusted_peer_is_its_own_key() {
        let req = from("203.0.113.9:1", "x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(client_of(&req, XFF), Some(ip("203.0.113.9")));
        assert_eq!(client_of(&http::Request::new(()), XFF), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["6.6.6.6, 198.51.100.7", "10.1.1.1 , 10.2.2.2"],
        );
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let req = from("10.0.0.1:1", "x-forwarded-for", &["[2001:db8::7]:443"]);
        assert_eq!(client_of(&req, XFF), Some(ip("2001:db8::7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &["198.51.100.7:8080"]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &["::ffff:198.51.100.7"]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn garbage_reported_by_a_trusted_hop_is_unattributable() {
        // Never the hop that reported it: a client could spend that
        // proxy's quota by sending garbage.
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["6.6.6.6, bogus, 10.3.3.3"],
        );
        assert_eq!(walk(&req, XFF), UNATTRIBUTABLE);
        let req = from("10.0.0.1:1", "x-forwarded-for", &["x".repeat(65).as_str()]);
        assert_eq!(walk(&req, XFF), UNATTRIBUTABLE);
        // Garbage to the left of the client is never read.
        let req = from("10.0.0.1:1", "x-forwarded-for", &["bogus, 198.51.100.7"]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn empty_elements_are_skipped() {
        let req = from("10.0.0.1:1", "x-forwarded-for", &[""]);
        assert_eq!(client_of(&req, XFF), Some(ip("10.0.0.1")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &["198.51.100.7, ,", " "]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn only_trusted_hops_key_by_the_leftmost() {
        let req = from("10.0.0.1:1", "x-forwarded-for", &["10.9.9.9, 10.8.8.8"]);
        assert_eq!(client_of(&req, XFF), Some(ip("10.9.9.9")));
        let req = from("10.0.0.1:1", "x-other", &["198.51.100.7"]);
        assert_eq!(client_of(&req, XFF), Some(ip("10.0.0.1")));
    }

    #[test]
    fn too_many_trusted_hops_are_unattributable() {
        let chain = vec!["10.1.1.1"; MAX_HOPS].join(",");
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&chain]);
        assert_eq!(client_of(&req, XFF), Some(ip("10.1.1.1")));
        let value = format!("198.51.100.7,{chain}");
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&value]);
        assert_eq!(walk(&req, XFF), UNATTRIBUTABLE);
    }

    #[test]
    fn padding_left_of_the_client_is_never_read() {
        // A client pads its header to the byte bound; the proxy appends
        // the address it saw, on the same line or on a line of its own.
        let padding = format!("{}, 6.6.6.6", "9".repeat(MAX_BYTES));
        let same_line = format!("{padding}, 198.51.100.7");
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&same_line]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&padding, "198.51.100.7"]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
        let padded = vec!["1.1.1.1"; 600].join(",");
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&padded, "198.51.100.7"]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_client_beyond_the_byte_bound_is_unattributable() {
        // Trusted hops padded with whitespace fill the bound: the client
        // is out of sight.
        let hop = format!("{}10.200.200.200", " ".repeat(2_000));
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["198.51.100.7", &hop, &hop, &hop],
        );
        assert_eq!(walk(&req, XFF), UNATTRIBUTABLE);
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["198.51.100.7", &hop, &hop],
        );
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
        // One line whose last MAX_BYTES end inside the client's address:
        // `98.51.100.7` would parse, so a cut element is never read.
        let line = |pad: usize| format!("198.51.100.7,{}10.200.200.200", " ".repeat(pad));
        let whole = MAX_BYTES - line(0).len();
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&line(whole)]);
        assert_eq!(client_of(&req, XFF), Some(ip("198.51.100.7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&line(whole + 1)]);
        assert_eq!(walk(&req, XFF), UNATTRIBUTABLE);
    }

    #[test]
    fn the_forwarded_field() {
        let fwd = ForwardedHeader::Forwarded;
        let req = from(
            "10.0.0.1:1",
            "forwarded",
            &[
                r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.2.2.2;by=10.0.0.1"#,
            ],
        );
        assert_eq!(client_of(&req, fwd), Some(ip("2001:db8:cafe::17")));
        // The other header is not read.
        assert_eq!(client_of(&req, XFF), Some(ip("10.0.0.1")));
        // `unknown`, an obfuscated name, or no `for=` at all: the trusted
        // hop does not say who the client is.
        for element in ["for=unknown", "for=_hidden", "proto=https"] {
            let req = from(
                "10.0.0.1:1",
                "forwarded",
                &[&format!("{element}, for=10.2.2.2")],
            );
            assert_eq!(walk(&req, fwd), UNATTRIBUTABLE, "{element}");
        }
        let req = from(
            "10.0.0.1:1",
            "forwarded",
            &["for=unknown, for=198.51.100.7"],
        );
        assert_eq!(client_of(&req, fwd), Some(ip("198.51.100.7")));
    }
}
