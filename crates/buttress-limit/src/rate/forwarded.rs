//! The client address behind a chain of trusted proxies.
//!
//! Each proxy appends the address it received the request from, so the
//! rightmost entries of `X-Forwarded-For` / `Forwarded` are the ones our
//! own proxies wrote, and everything to their left is what the client
//! claimed. Walking right to left past addresses the [`TrustPolicy`]
//! trusts, the first untrusted address is the client: the one a client
//! cannot choose. Headers are only read when the peer itself is trusted;
//! otherwise a caller could pick its own key.

use std::net::{IpAddr, Ipv6Addr};

use buttress_core::TrustPolicy;
use buttress_core::context::TrustRequest;
use http::HeaderName;

/// Hops looked at before giving up (and keying by the last trusted one).
const MAX_HOPS: usize = 32;
/// Header bytes looked at, over every line of the field.
const MAX_BYTES: usize = 4096;

/// Which header the trusted proxies maintain. Name the one they write
/// (and strip from what they receive): a client can send the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
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

/// The client address of `request`: the peer's, unless the peer is a
/// trusted proxy, then the rightmost forwarded address that is not itself
/// a trusted proxy. An entry that does not parse ends the walk at the
/// hop that reported it. `None` without a known peer.
///
/// Entries are trimmed with std's `trim_ascii`: of the ASCII whitespace
/// it strips, a header value can hold only the optional whitespace (SP,
/// HTAB) that HTTP allows around list elements, so it trims exactly that.
pub(crate) fn client_ip(
    request: &TrustRequest<'_>,
    trust: &TrustPolicy,
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = request.peer_ip()?;
    if !trust.trusts(request) {
        return Some(peer);
    }
    let mut last_trusted = peer;
    let mut hops = 0;
    let mut bytes = 0;
    for value in request.headers.get_all(header.name()).iter().rev() {
        let value = value.as_bytes();
        bytes += value.len();
        if bytes > MAX_BYTES {
            return Some(last_trusted);
        }
        for element in value.rsplit(|b| *b == b',') {
            hops += 1;
            if hops > MAX_HOPS {
                return Some(last_trusted);
            }
            match header.parse(element) {
                Some(ip) if trust.trusts_ip(ip) => last_trusted = ip,
                Some(ip) => return Some(ip),
                None => return Some(last_trusted),
            }
        }
    }
    // Every hop was a trusted proxy (or none was forwarded): the
    // leftmost one is as close to the client as we know.
    Some(last_trusted)
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

    fn client(req: &http::Request<()>, header: ForwardedHeader) -> Option<IpAddr> {
        let trust = TrustPolicy::peers(["10.0.0.0/8"]).unwrap();
        client_ip(&TrustRequest::of(req), &trust, header)
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn an_untrusted_peer_is_its_own_key() {
        let req = from("203.0.113.9:1", "x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(client(&req, XFF), Some(ip("203.0.113.9")));
        assert_eq!(client(&http::Request::new(()), XFF), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["6.6.6.6, 198.51.100.7", "10.1.1.1 , 10.2.2.2"],
        );
        assert_eq!(client(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let req = from("10.0.0.1:1", "x-forwarded-for", &["[2001:db8::7]:443"]);
        assert_eq!(client(&req, XFF), Some(ip("2001:db8::7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &["198.51.100.7:8080"]);
        assert_eq!(client(&req, XFF), Some(ip("198.51.100.7")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &["::ffff:198.51.100.7"]);
        assert_eq!(client(&req, XFF), Some(ip("198.51.100.7")));
    }

    #[test]
    fn garbage_stops_at_the_hop_that_reported_it() {
        let req = from(
            "10.0.0.1:1",
            "x-forwarded-for",
            &["6.6.6.6, bogus, 10.3.3.3"],
        );
        assert_eq!(client(&req, XFF), Some(ip("10.3.3.3")));
        let req = from("10.0.0.1:1", "x-forwarded-for", &[""]);
        assert_eq!(client(&req, XFF), Some(ip("10.0.0.1")));
    }

    #[test]
    fn only_trusted_hops_key_by_the_leftmost() {
        let req = from("10.0.0.1:1", "x-forwarded-for", &["10.9.9.9, 10.8.8.8"]);
        assert_eq!(client(&req, XFF), Some(ip("10.9.9.9")));
        let req = from("10.0.0.1:1", "x-other", &["198.51.100.7"]);
        assert_eq!(client(&req, XFF), Some(ip("10.0.0.1")));
    }

    #[test]
    fn long_chains_are_cut() {
        let chain = vec!["10.1.1.1"; 40].join(",");
        let value = format!("198.51.100.7,{chain}");
        let req = from("10.0.0.1:1", "x-forwarded-for", &[&value]);
        assert_eq!(client(&req, XFF), Some(ip("10.1.1.1")));
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
        assert_eq!(client(&req, fwd), Some(ip("2001:db8:cafe::17")));
        // The other header is not read.
        assert_eq!(client(&req, XFF), Some(ip("10.0.0.1")));
        let req = from("10.0.0.1:1", "forwarded", &["for=unknown, for=10.2.2.2"]);
        assert_eq!(client(&req, fwd), Some(ip("10.2.2.2")));
        let req = from("10.0.0.1:1", "forwarded", &["proto=https"]);
        assert_eq!(client(&req, fwd), Some(ip("10.0.0.1")));
    }
}
