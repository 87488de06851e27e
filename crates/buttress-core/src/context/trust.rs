//! Whether a caller may set what changes behaviour.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::PeerAddr;

/// The parts of a request a [`TrustPolicy`] may look at.
#[derive(Debug, Clone, Copy)]
pub struct TrustRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions (peer address, TLS identity, …).
    pub extensions: &'a Extensions,
}

impl<'a> TrustRequest<'a> {
    /// A view of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        TrustRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The peer's IP address, from the extensions (see [`PeerAddr::find`]).
    pub fn peer_ip(&self) -> Option<IpAddr> {
        PeerAddr::find(self.extensions).map(|peer| peer.ip().to_canonical())
    }
}

type Predicate = dyn Fn(&TrustRequest<'_>) -> bool + Send + Sync;

#[derive(Clone)]
enum Rule {
    Always,
    Never,
    Peers(Arc<[IpNet]>),
    Header(HeaderName, HeaderValue),
    Predicate(Arc<Predicate>),
}

/// Decides whether a caller is trusted to set what changes behaviour:
/// criticality, deadlines, fault directives, forwarded client addresses,
/// correlation IDs (ARCHITECTURE.md, rule 10 "Untrusted input is
/// bounded").
///
/// A service facing the internet trusts [`never`](Self::never) (or only
/// its own gateway); an internal one behind a mesh may trust
/// [`always`](Self::always). The default is `never`: a layer that honours
/// untrusted criticality lets any caller jump the shedding queue.
///
/// ```
/// use buttress_core::context::{PeerAddr, TrustPolicy};
///
/// let policy = TrustPolicy::peers(["10.0.0.0/8", "::1"]).unwrap();
///
/// let mut from_mesh = http::Request::new(());
/// from_mesh.extensions_mut().insert(PeerAddr("10.1.2.3:5000".parse().unwrap()));
/// assert!(policy.is_trusted(&from_mesh));
///
/// let mut from_outside = http::Request::new(());
/// from_outside.extensions_mut().insert(PeerAddr("203.0.113.9:5000".parse().unwrap()));
/// assert!(!policy.is_trusted(&from_outside));
/// ```
#[derive(Clone)]
pub struct TrustPolicy {
    rule: Rule,
}

impl TrustPolicy {
    /// Trusts every caller.
    pub fn always() -> Self {
        TrustPolicy { rule: Rule::Always }
    }

    /// Trusts no caller.
    pub fn never() -> Self {
        TrustPolicy { rule: Rule::Never }
    }

    /// Trusts callers whose peer address ([`PeerAddr`]) lies in one of
    /// `networks` (CIDR like `10.0.0.0/8`, or a bare address). A request
    /// with no known peer is not trusted.
    pub fn peers<I, S>(networks: I) -> Result<Self, InvalidNetwork>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = networks
            .into_iter()
            .map(|net| net.as_ref().parse())
            .collect::<Result<Vec<IpNet>, _>>()?;
        Ok(TrustPolicy {
            rule: Rule::Peers(nets.into()),
        })
    }

    /// Trusts requests carrying `name: value`, a header your gateway sets
    /// (and strips from what it receives). Compared in constant time.
    pub fn header(name: HeaderName, value: HeaderValue) -> Self {
        TrustPolicy {
            rule: Rule::Header(name, value),
        }
    }

    /// Trusts requests for which `predicate` holds (a TLS identity in the
    /// extensions, a route, …).
    pub fn predicate<F>(predicate: F) -> Self
    where
        F: Fn(&TrustRequest<'_>) -> bool + Send + Sync + 'static,
    {
        TrustPolicy {
            rule: Rule::Predicate(Arc::new(predicate)),
        }
    }

    /// Whether the caller of `request` is trusted.
    pub fn is_trusted<B>(&self, request: &http::Request<B>) -> bool {
        self.trusts(&TrustRequest::of(request))
    }

    /// Whether the caller behind `request` is trusted.
    pub fn trusts(&self, request: &TrustRequest<'_>) -> bool {
        match &self.rule {
            Rule::Always => true,
            Rule::Never => false,
            Rule::Peers(nets) => request
                .peer_ip()
                .is_some_and(|ip| nets.iter().any(|net| net.contains(ip))),
            Rule::Header(name, expected) => request
                .headers
                .get(name)
                .is_some_and(|got| constant_time_eq(got.as_bytes(), expected.as_bytes())),
            Rule::Predicate(predicate) => predicate(request),
        }
    }

    /// Whether `ip` lies in this policy's trusted networks (for walking a
    /// `Forwarded` chain past trusted proxies). Only [`peers`](Self::peers)
    /// and [`always`](Self::always) policies trust a bare address.
    pub fn trusts_ip(&self, ip: IpAddr) -> bool {
        match &self.rule {
            Rule::Always => true,
            Rule::Peers(nets) => {
                let ip = ip.to_canonical();
                nets.iter().any(|net| net.contains(ip))
            }
            Rule::Never | Rule::Header(..) | Rule::Predicate(_) => false,
        }
    }

    /// Whether this policy trusts every caller by address alone:
    /// [`always`](Self::always), or [`peers`](Self::peers) with a whole
    /// address family (`0.0.0.0/0`, `::/0`). Where the trusted may name
    /// someone else — a rate limit keyed by forwarded addresses — such a
    /// policy lets any caller choose who it is, and is refused.
    ///
    /// ```
    /// use buttress_core::context::TrustPolicy;
    ///
    /// assert!(TrustPolicy::always().trusts_every_peer());
    /// assert!(TrustPolicy::peers(["10.0.0.0/8", "0.0.0.0/0"]).unwrap().trusts_every_peer());
    /// assert!(!TrustPolicy::peers(["10.0.0.0/8"]).unwrap().trusts_every_peer());
    /// assert!(!TrustPolicy::never().trusts_every_peer());
    /// ```
    pub fn trusts_every_peer(&self) -> bool {
        match &self.rule {
            Rule::Always => true,
            Rule::Peers(nets) => nets.iter().any(|net| net.prefix == 0),
            Rule::Never | Rule::Header(..) | Rule::Predicate(_) => false,
        }
    }
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self::never()
    }
}

impl fmt::Debug for TrustPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::Always => f.write_str("TrustPolicy::Always"),
            Rule::Never => f.write_str("TrustPolicy::Never"),
            Rule::Peers(nets) => f.debug_tuple("TrustPolicy::Peers").field(nets).finish(),
            Rule::Header(name, _) => f.debug_tuple("TrustPolicy::Header").field(name).finish(),
            Rule::Predicate(_) => f.write_str("TrustPolicy::Predicate"),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret; the content is compared without an early
    // exit so the time taken does not reveal a matching prefix.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An IP network in CIDR notation.
///
/// ```
/// use buttress_core::context::IpNet;
///
/// let net: IpNet = "192.168.0.0/16".parse().unwrap();
/// assert!(net.contains("192.168.4.2".parse().unwrap()));
/// assert!(!net.contains("10.0.0.1".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses
    /// match their IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A network that is not valid CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNetwork;

impl fmt::Display for InvalidNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid network: expected an IP address or CIDR like 10.0.0.0/8")
    }
}

impl std::error::Error for InvalidNetwork {}

impl FromStr for IpNet {
    type Err = InvalidNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > 64 {
            return Err(InvalidNetwork);
        }
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| InvalidNetwork)?;
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(InvalidNetwork);
                }
                let prefix: u8 = prefix.parse().map_err(|_| InvalidNetwork)?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| InvalidNetwork)?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(InvalidNetwork);
        }
        Ok(IpNet { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str) -> http::Request<()> {
        let mut req = http::Request::new(());
        req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        req
    }

    #[test]
    fn always_and_never() {
        let req = http::Request::new(());
        assert!(TrustPolicy::always().is_trusted(&req));
        assert!(!TrustPolicy::never().is_trusted(&req));
        assert!(!TrustPolicy::default().is_trusted(&req));
    }

    #[test]
    fn peers_need_a_known_peer_in_range() {
        let policy = TrustPolicy::peers(["10.0.0.0/8", "fd00::/8", "127.0.0.1"]).unwrap();
        assert!(policy.is_trusted(&from("10.255.0.1:1")));
        assert!(policy.is_trusted(&from("[fd12::1]:1")));
        assert!(policy.is_trusted(&from("127.0.0.1:9")));
        assert!(policy.is_trusted(&from("[::ffff:10.0.0.7]:1")));
        assert!(!policy.is_trusted(&from("127.0.0.2:9")));
        assert!(!policy.is_trusted(&from("11.0.0.1:1")));
        assert!(!policy.is_trusted(&http::Request::new(())));
        assert!(policy.trusts_ip("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn header_and_predicate() {
        let policy = TrustPolicy::header(
            HeaderName::from_static("x-gateway"),
            HeaderValue::from_static("s3cret"),
        );
        let mut req = http::Request::new(());
        assert!(!policy.is_trusted(&req));
        req.headers_mut()
            .insert("x-gateway", HeaderValue::from_static("s3cres"));
        assert!(!policy.is_trusted(&req));
        req.headers_mut()
            .insert("x-gateway", HeaderValue::from_static("s3cret"));
        assert!(policy.is_trusted(&req));

        let internal_only = TrustPolicy::predicate(|req| req.uri.path().starts_with("/internal/"));
        assert!(internal_only.is_trusted(&http::Request::get("/internal/x").body(()).unwrap()));
        assert!(!internal_only.is_trusted(&http::Request::get("/x").body(()).unwrap()));
    }

    #[test]
    fn network_parsing_is_strict() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "host",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
    }
}
