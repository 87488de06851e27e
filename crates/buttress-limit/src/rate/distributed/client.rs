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
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| ConfigError::new("url", format!("not a usable Redis URL: {e}")))?;
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
