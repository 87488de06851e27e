//! Where a request's rate-limit key comes from.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use buttress_core::TrustPolicy;
use buttress_core::context::TrustRequest;
use http::{Extensions, HeaderName};

use super::forwarded::{Client, ForwardedHeader, client};

/// The longest key taken from a header, a route or a function; a longer
/// one counts as no key (the shared anonymous bucket).
pub(crate) const MAX_KEY_LEN: usize = 256;

/// Where each request's key comes from, as configuration data. The route
/// template and function sources are set on the builder
/// ([`key_route`](super::RateLimitLayerBuilder::key_route),
/// [`key_fn`](super::RateLimitLayerBuilder::key_fn)).
///
/// Requests without a key (no peer address, no header, a value longer
/// than 256 bytes) share one anonymous bucket: missing a key never
/// escapes the limit.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeySource {
    /// One quota for every request through the layer.
    #[default]
    Global,
    /// The peer's IP address, from core's
    /// [`PeerAddr`](buttress_core::context::PeerAddr) in the extensions.
    PeerIp,
    /// The client address from the forwarded header, read only when the
    /// peer is a trusted proxy (`trusted_proxies`), taking the rightmost
    /// address that is not itself a trusted proxy; the peer's address
    /// otherwise. The header is read from the right, only as far as the
    /// client: what a client pads to the left of its own address is never
    /// looked at. A chain a trusted proxy forwarded that cannot be read to
    /// the client (an entry that is not an address, such as `unknown`;
    /// more than 32 trusted hops; more than 4 KiB before the client) is
    /// keyed to one shared `unattributable` key, never to the proxy's own
    /// address, so that no client can spend the proxy's quota. A trust
    /// policy that trusts every peer is refused: it would let any caller
    /// choose its own key.
    Forwarded,
    /// The value of this header (an API key, a tenant ID), as sent.
    Header(String),
    /// A route template or a function, given to the builder; cannot be
    /// loaded from configuration.
    #[serde(skip)]
    Custom,
}

type RouteFn = dyn for<'a> Fn(&'a Extensions) -> Option<&'a str> + Send + Sync;
type KeyFn = dyn for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, [u8]>> + Send + Sync;

/// A key source made ready to run.
#[derive(Clone)]
pub(crate) enum Extractor {
    Global,
    PeerIp,
    Forwarded {
        trust: TrustPolicy,
        header: ForwardedHeader,
    },
    Header(HeaderName),
    Route(Arc<RouteFn>),
    Custom(Arc<KeyFn>),
}

impl Extractor {
    pub(crate) fn route<T, F>(as_str: F) -> Self
    where
        T: Send + Sync + 'static,
        F: for<'a> Fn(&'a T) -> &'a str + Send + Sync + 'static,
    {
        fn hint<F: for<'a> Fn(&'a Extensions) -> Option<&'a str>>(f: F) -> F {
            f
        }
        Extractor::Route(Arc::new(hint(move |ext| ext.get::<T>().map(&as_str))))
    }

    pub(crate) fn custom<F>(key: F) -> Self
    where
        F: for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, [u8]>> + Send + Sync + 'static,
    {
        Extractor::Custom(Arc::new(key))
    }

    /// Whether keys are IP addresses (overrides are written as addresses).
    pub(crate) fn keys_by_address(&self) -> bool {
        matches!(self, Extractor::PeerIp | Extractor::Forwarded { .. })
    }

    /// The key of `request`. Borrows from the request or builds the key
    /// on the stack: a lookup allocates nothing.
    #[inline]
    pub(crate) fn key<'a>(&self, request: &TrustRequest<'a>, ipv6_prefix: u8) -> Key<'a> {
        let bytes = match self {
            Extractor::Global => None,
            Extractor::PeerIp => {
                return request
                    .peer_ip()
                    .map_or(Key::ANONYMOUS, |ip| Key::address(ip, ipv6_prefix));
            }
            Extractor::Forwarded { trust, header } => {
                return match client(request, trust, *header) {
                    Some(Client::Address(ip)) => Key::address(ip, ipv6_prefix),
                    Some(Client::Unattributable) => Key::UNATTRIBUTABLE,
                    None => Key::ANONYMOUS,
                };
            }
            Extractor::Header(name) => request
                .headers
                .get(name)
                .map(|value| Cow::Borrowed(value.as_bytes())),
            Extractor::Route(route) => {
                route(request.extensions).map(|r| Cow::Borrowed(r.as_bytes()))
            }
            Extractor::Custom(key) => key(request),
        };
        match bytes {
            Some(bytes) if bytes.len() <= MAX_KEY_LEN => Key(Repr::Bytes(bytes)),
            _ => Key::ANONYMOUS,
        }
    }
}

impl fmt::Debug for Extractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Extractor::Global => f.write_str("Global"),
            Extractor::PeerIp => f.write_str("PeerIp"),
            Extractor::Forwarded { trust, header } => f
                .debug_struct("Forwarded")
                .field("trust", trust)
                .field("header", header)
                .finish(),
            Extractor::Header(name) => f.debug_tuple("Header").field(name).finish(),
            Extractor::Route(_) => f.write_str("Route"),
            Extractor::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// One request's key: bytes borrowed from the request, or an address
/// packed on the stack.
pub(crate) struct Key<'a>(Repr<'a>);

enum Repr<'a> {
    Bytes(Cow<'a, [u8]>),
    Address { bytes: [u8; 16], len: u8 },
}

impl<'a> Key<'a> {
    /// The key of requests that have none.
    pub(crate) const ANONYMOUS: Key<'static> = Key(Repr::Bytes(Cow::Borrowed(b"")));

    /// The key of requests whose trusted proxies forwarded a chain that
    /// cannot be read to the client. Address keys are 4 or 16 bytes, so
    /// no address (and no proxy) shares it.
    pub(crate) const UNATTRIBUTABLE: Key<'static> =
        Key(Repr::Bytes(Cow::Borrowed(b"unattributable")));

    /// An address key: IPv4 as its 4 bytes, IPv6 as its 16 with all but
    /// the first `ipv6_prefix` bits cleared (a client holds a whole /64).
    pub(crate) fn address(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let mut bytes = [0; 16];
                bytes[..4].copy_from_slice(&v4.octets());
                Key(Repr::Address { bytes, len: 4 })
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(ipv6_prefix.min(128)))
                    .unwrap_or(0);
                let bytes = (u128::from(v6) & mask).to_be_bytes();
                Key(Repr::Address { bytes, len: 16 })
            }
        }
    }
}

impl Deref for Key<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(bytes) => bytes,
            Repr::Address { bytes, len } => &bytes[..usize::from(*len)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::context::PeerAddr;

    #[test]
    fn ipv6_keys_cover_the_prefix() {
        let a = Key::address("2001:db8:1:2:aaaa::1".parse().unwrap(), 64);
        let b = Key::address("2001:db8:1:2:bbbb::9".parse().unwrap(), 64);
        let c = Key::address("2001:db8:1:3::1".parse().unwrap(), 64);
        assert_eq!(&*a, &*b);
        assert_ne!(&*a, &*c);
        let full = Key::address("2001:db8:1:2:aaaa::1".parse().unwrap(), 128);
        assert_ne!(&*full, &*a);
        let v4 = Key::address("::ffff:192.0.2.1".parse().unwrap(), 64);
        assert_eq!(&*v4, &[192, 0, 2, 1]);
    }

    #[test]
    fn missing_and_oversized_keys_are_anonymous() {
        let header = Extractor::Header(HeaderName::from_static("x-api-key"));
        let mut req = http::Request::new(());
        assert!(header.key(&TrustRequest::of(&req), 64).is_empty());
        req.headers_mut()
            .insert("x-api-key", "k".repeat(MAX_KEY_LEN + 1).parse().unwrap());
        assert!(header.key(&TrustRequest::of(&req), 64).is_empty());
        req.headers_mut()
            .insert("x-api-key", "k-1".parse().unwrap());
        assert_eq!(&*header.key(&TrustRequest::of(&req), 64), b"k-1");
        assert!(
            Extractor::PeerIp
                .key(&TrustRequest::of(&req), 64)
                .is_empty()
        );
        req.extensions_mut()
            .insert(PeerAddr("192.0.2.1:9".parse().unwrap()));
        assert_eq!(
            &*Extractor::PeerIp.key(&TrustRequest::of(&req), 64),
            &[192, 0, 2, 1]
        );
    }

    #[test]
    fn an_unreadable_forwarded_chain_is_keyed_apart_from_the_proxy() {
        let forwarded = Extractor::Forwarded {
            trust: TrustPolicy::peers(["10.0.0.0/8"]).unwrap(),
            header: ForwardedHeader::XForwardedFor,
        };
        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.1:9".parse().unwrap()));
        let key = |req: &http::Request<()>| forwarded.key(&TrustRequest::of(req), 64).to_vec();
        assert_eq!(key(&req), [10, 0, 0, 1], "the proxy's own request");
        req.headers_mut()
            .insert("x-forwarded-for", "unknown".parse().unwrap());
        assert_eq!(key(&req), b"unattributable");
        req.headers_mut()
            .insert("x-forwarded-for", "unknown, 192.0.2.7".parse().unwrap());
        assert_eq!(key(&req), [192, 0, 2, 7]);
    }

    #[test]
    fn routes_come_from_an_extension() {
        #[derive(Clone)]
        struct Template(&'static str);
        let route = Extractor::route(|t: &Template| t.0);
        let mut req = http::Request::new(());
        assert!(route.key(&TrustRequest::of(&req), 64).is_empty());
        req.extensions_mut().insert(Template("/users/{id}"));
        assert_eq!(&*route.key(&TrustRequest::of(&req), 64), b"/users/{id}");
    }
}
