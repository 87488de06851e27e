//! A configured endpoint: `host:port`.

use std::net::SocketAddr;

/// One `endpoints` entry: an IP literal and port (`10.0.0.1:8080`,
/// `[::1]:50051`), resolved without DNS, or a DNS name and port
/// (`payments.internal:8080`).
///
/// ```
/// use buttress_balance::EndpointAddress;
///
/// assert!(matches!(EndpointAddress::parse("10.0.0.1:80"), Ok(EndpointAddress::Ip(_))));
/// assert_eq!(
///     EndpointAddress::parse("payments:80"),
///     Ok(EndpointAddress::Name { host: "payments".into(), port: 80 }),
/// );
/// assert!(EndpointAddress::parse("payments").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointAddress {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A name to resolve through DNS, and the port.
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// Host names are at most 253 bytes (RFC 1035).
const MAX_HOST: usize = 253;

impl EndpointAddress {
    /// Parses one entry, or says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, &'static str> {
        if let Ok(addr) = entry.parse::<SocketAddr>() {
            return Ok(EndpointAddress::Ip(addr));
        }
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or("must be host:port (an IP literal or a DNS name, and a port)")?;
        let port: u16 = port.parse().map_err(|_| "the port must be 0 to 65535")?;
        let valid_host = !host.is_empty()
            && host.len() <= MAX_HOST
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid_host {
            return Err("the host must be a DNS name (letters, digits, '-', '_', '.')");
        }
        Ok(EndpointAddress::Name {
            host: host.to_owned(),
            port,
        })
    }
}
