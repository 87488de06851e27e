//! [`ServeConfig`]: the server's bounds, as data.

use std::sync::OnceLock;
use std::time::Duration;

use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};

/// The longest header-read timeout a config may hold: five minutes. A
/// longer one hands a slow client a connection slot for that long.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// The connection cap when the process' file-descriptor limit is unknown
/// or large.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How a [`Server`](super::Server) bounds its connections, as data
/// (loadable with the `serde` feature).
///
/// ```
/// use std::time::Duration;
/// use buttress::serve::ServeConfig;
///
/// let config = ServeConfig {
///     header_read_timeout: Duration::from_secs(5),
///     max_connections: 2_000,
///     ..ServeConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// let zero = ServeConfig { header_read_timeout: Duration::ZERO, ..config };
/// assert_eq!(
///     zero.validate().unwrap_err().to_string(),
///     "header_read_timeout: must be at least 1ms"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ServeConfig {
    /// How long a connection may take to send its first bytes (while the
    /// server tells HTTP/1 from HTTP/2), and then how long it may take to
    /// send each HTTP/1 request head — trickling bytes does not restart
    /// it, and an idle keep-alive connection is closed after it too.
    /// Default 10 s; 1 ms to five minutes.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub header_read_timeout: Duration,
    /// The most connections served at once. At the cap the server stops
    /// accepting: new connections wait in the kernel's listen backlog
    /// until one closes. Default: three quarters of the process'
    /// file-descriptor limit (the rest is left for outbound calls and
    /// files), at most [`DEFAULT_MAX_CONNECTIONS`]. At least 1.
    pub max_connections: usize,
    /// How often an HTTP/2 connection is pinged to find a dead peer;
    /// `None` never. Default 20 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub http2_keep_alive_interval: Option<Duration>,
    /// How long a ping may go unanswered before the HTTP/2 connection is
    /// closed. Default 20 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub http2_keep_alive_timeout: Duration,
    /// On graceful shutdown, how long open connections may take to finish
    /// their requests before the server returns anyway. Default 30 s.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(10),
            max_connections: default_max_connections(),
            http2_keep_alive_interval: Some(Duration::from_secs(20)),
            http2_keep_alive_timeout: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl ServeConfig {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = Duration::from_millis(1);
        check_duration(
            "header_read_timeout",
            self.header_read_timeout,
            ms..=MAX_HEADER_READ_TIMEOUT,
        )?;
        // The cap is a semaphore's permits, all taken back at shutdown.
        let most = tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                "max_connections",
                "must be greater than zero",
            ));
        }
        if self.max_connections > most {
            return Err(ConfigError::new(
                "max_connections",
                format!("must be at most {most}"),
            ));
        }
        if let Some(interval) = self.http2_keep_alive_interval {
            check_duration("http2_keep_alive_interval", interval, ms..=MAX_DURATION)?;
        }
        check_duration(
            "http2_keep_alive_timeout",
            self.http2_keep_alive_timeout,
            ms..=MAX_DURATION,
        )?;
        check_duration(
            "drain_timeout",
            self.drain_timeout,
            Duration::ZERO..=MAX_DURATION,
        )
    }
}

/// Three quarters of the soft file-descriptor limit, at most
/// [`DEFAULT_MAX_CONNECTIONS`], at least 1; read once per process.
fn default_max_connections() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| match fd_limit() {
        Some(limit) => (limit / 4 * 3).clamp(1, DEFAULT_MAX_CONNECTIONS),
        None => DEFAULT_MAX_CONNECTIONS,
    })
}

/// The soft `RLIMIT_NOFILE`, where the platform says (Linux's
/// `/proc/self/limits`); `None` when unknown or unlimited.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_descriptors_spare() {
        let config = ServeConfig::default();
        assert!(config.validate().is_ok());
        assert!(config.max_connections <= DEFAULT_MAX_CONNECTIONS);
        if let Some(limit) = fd_limit() {
            assert!(config.max_connections < limit);
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |config: ServeConfig| config.validate().unwrap_err().to_string();
        let base = ServeConfig::default();
        assert_eq!(
            bad(ServeConfig {
                header_read_timeout: Duration::from_secs(301),
                ..base.clone()
            }),
            "header_read_timeout: must be at most 300s"
        );
        assert_eq!(
            bad(ServeConfig {
                max_connections: 0,
                ..base.clone()
            }),
            "max_connections: must be greater than zero"
        );
        assert_eq!(
            bad(ServeConfig {
                http2_keep_alive_interval: Some(Duration::ZERO),
                ..base.clone()
            }),
            "http2_keep_alive_interval: must be at least 1ms"
        );
        assert_eq!(
            bad(ServeConfig {
                drain_timeout: MAX_DURATION * 2,
                ..base
            }),
            "drain_timeout: must be at most 86400s"
        );
    }
}
