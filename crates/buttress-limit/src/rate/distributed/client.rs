//! The Redis connection: one multiplexed connection per layer, a bound on
//! calls outstanding, a timeout on each, and telemetry for every call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::telemetry::{Event, Telemetry};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::config::RedisRateConfig;
use super::script::{LEASE_SCRIPT, Reply};
use crate::ConfigError;

/// Why a call did not answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Redis answered with an error, or the connection failed (the
    /// manager reconnects by itself; telemetry counts the failure).
    Redis,
    /// No answer within the timeout.
    Timeout,
    /// The script answered something other than four integers.
    Protocol,
}

fn unusable_url(e: redis::RedisError) -> ConfigError {
    ConfigError::new("url", format!("not a usable Redis URL: {e}"))
}

/// A client for a `rediss://` URL: the system's roots plus `tls.ca_file`,
/// and `tls`' client certificate if given.
#[cfg(feature = "redis-tls")]
fn tls_client(config: &RedisRateConfig) -> Result<redis::Client, ConfigError> {
    // rustls needs a process-wide crypto provider; install ring's unless
    // the application already chose one (then this fails, harmlessly and
    // theirs is used). ring, not aws-lc-rs: a small pure-`cc` build for a
    // link inside the service's own network; rustls deprecates it only
    // for lacking post-quantum key exchange, which an application that
    // needs it gets by installing aws-lc-rs' provider first.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |field: &'static str, path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|e| {
                    ConfigError::new(field, format!("cannot read {}: {e}", path.display()))
                })
            })
            .transpose()
    };
    let tls = &config.tls;
    let root_cert = read("tls.ca_file", &tls.ca_file)?;
    let client_tls = match (
        read("tls.client_cert_file", &tls.client_cert_file)?,
        read("tls.client_key_file", &tls.client_key_file)?,
    ) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        _ => None,
    };
    let certificates = redis::TlsCertificates {
        client_tls,
        root_cert,
    };
    redis::Client::build_with_tls(config.url.as_str(), certificates).map_err(unusable_url)
}

#[cfg(not(feature = "redis-tls"))]
fn tls_client(_: &RedisRateConfig) -> Result<redis::Client, ConfigError> {
    Err(ConfigError::new(
        "url",
        "rediss:// (TLS) needs the `redis-tls` feature",
    ))
}

/// One layer's link to Redis.
pub(crate) struct RedisClient {
    client: redis::Client,
    /// Made on first use, inside the runtime (building a layer needs
    /// none); it reconnects by itself after a failure.
    manager: OnceLock<ConnectionManager>,
    script: redis::Script,
    in_flight: Semaphore,
    max_in_flight: usize,
    timeout: Duration,
    max_backoff: Duration,
    /// Every call's latency and outcome (`<name>/redis`).
    pub(crate) telemetry: Telemetry,
    /// The last call's round trip, in µs: how early a refill is sent.
    rtt_us: AtomicU64,
}

impl RedisClient {
    /// Parses the URL (credentials and database included); connects
    /// nothing yet.
    pub(crate) fn open(
        config: &RedisRateConfig,
        telemetry: Telemetry,
    ) -> Result<Self, ConfigError> {
        let client = if config.url.starts_with("rediss://") {
            tls_client(config)?
        } else {
            redis::Client::open(config.url.as_str()).map_err(unusable_url)?
        };
        Ok(RedisClient {
            client,
            manager: OnceLock::new(),
            script: redis::Script::new(LEASE_SCRIPT),
            in_flight: Semaphore::new(config.max_in_flight as usize),
            max_in_flight: config.max_in_flight as usize,
            timeout: config.timeout,
            max_backoff: config.max_backoff,
            telemetry,
            rtt_us: AtomicU64::new(0),
        })
    }

    /// A slot for one call, if fewer than `max_in_flight` are out.
    pub(crate) fn try_slot(&self) -> Option<SemaphorePermit<'_>> {
        self.in_flight.try_acquire().ok()
    }

    /// Calls out now.
    pub(crate) fn in_flight(&self) -> u64 {
        (self.max_in_flight - self.in_flight.available_permits()) as u64
    }

    /// The last round trip.
    pub(crate) fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us.load(Ordering::Relaxed))
    }

    fn manager(&self) -> Result<ConnectionManager, CallError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        // The manager retries its connection itself; its waits stay under
        // our own backoff, and every call is bounded by our timeout.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.max_backoff);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|_| CallError::Redis)?;
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    /// Runs the lease script for `key`, within the timeout; reports the
    /// call's latency and outcome.
    pub(crate) async fn lease(&self, key: &[u8], args: [u64; 5]) -> Result<Reply, CallError> {
        let start = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.invoke(key, args)).await;
        let elapsed = start.elapsed();
        let result = match result {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout),
        };
        let outcome = if result.is_ok() {
            let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            self.rtt_us.store(us, Ordering::Relaxed);
            Outcome::Success
        } else {
            Outcome::Failure
        };
        self.telemetry.report(Event::Completed {
            outcome,
            duration: elapsed,
        });
        result
    }

    async fn invoke(&self, key: &[u8], args: [u64; 5]) -> Result<Reply, CallError> {
        let mut connection = self.manager()?;
        let mut invocation = self.script.key(key);
        for arg in args {
            invocation.arg(arg);
        }
        let values: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|_| CallError::Redis)?;
        Reply::parse(&values).ok_or(CallError::Protocol)
    }
}
