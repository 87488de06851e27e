//! The part of a retry policy that may change while the layer runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use buttress_core::backoff::Backoff;
use buttress_core::clock::nanos;

/// Attempts, the longest server hint honoured, the per-call timeout and
/// the backoff: read with relaxed loads on the request path (as cheap as
/// plain fields), the backoff — read only before a retry — behind a lock.
#[derive(Debug)]
pub(crate) struct LiveLimits {
    max_attempts: AtomicU32,
    max_retry_after: AtomicU64,
    /// Nanoseconds; `NO_TIMEOUT` for none.
    timeout: AtomicU64,
    backoff: Mutex<Backoff>,
}

const NO_TIMEOUT: u64 = u64::MAX;

impl LiveLimits {
    pub(crate) fn new(
        max_attempts: u32,
        backoff: Backoff,
        max_retry_after: Duration,
        timeout: Option<Duration>,
    ) -> Self {
        let live = LiveLimits {
            max_attempts: AtomicU32::new(0),
            max_retry_after: AtomicU64::new(0),
            timeout: AtomicU64::new(NO_TIMEOUT),
            backoff: Mutex::new(backoff),
        };
        live.set(max_attempts, backoff, max_retry_after, timeout);
        live
    }

    /// Takes new values, from the next attempt on.
    pub(crate) fn set(
        &self,
        max_attempts: u32,
        backoff: Backoff,
        max_retry_after: Duration,
        timeout: Option<Duration>,
    ) {
        self.max_attempts.store(max_attempts, Relaxed);
        self.max_retry_after.store(nanos(max_retry_after), Relaxed);
        let timeout = timeout.map_or(NO_TIMEOUT, |t| nanos(t).min(NO_TIMEOUT - 1));
        self.timeout.store(timeout, Relaxed);
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner()) = backoff;
    }

    #[inline]
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts.load(Relaxed)
    }

    pub(crate) fn max_retry_after(&self) -> Duration {
        Duration::from_nanos(self.max_retry_after.load(Relaxed))
    }

    #[inline]
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self.timeout.load(Relaxed) {
            NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    pub(crate) fn backoff(&self) -> Backoff {
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }
}
