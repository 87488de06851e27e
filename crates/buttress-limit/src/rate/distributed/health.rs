//! Whether Redis is usable: a small breaker around it.
//!
//! Components do not depend on each other, so this is not
//! `buttress-breaker`'s machine but the least that does its job here:
//! `failures` consecutive failed calls mark Redis down; while down no
//! call is made, and once the backoff (core's [`Backoff`]) has passed one
//! call — a probe — tries it again: success marks it up, failure doubles
//! the wait. Requests never wait on any of it; they read one atomic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::Reason;
use buttress_core::backoff::{Backoff, Jitter};
use buttress_core::clock::nanos;
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::{Event, FallbackCause, Replay, Telemetry};

use super::config::{RedisFallback, RedisRateConfig};

/// The state telemetry reports while Redis answers.
pub(crate) const SHARED: &str = "shared";

/// A small breaker around Redis.
pub(crate) struct Health {
    /// Consecutive failed calls.
    failures: AtomicU32,
    /// Ticks until which Redis is not called; 0 while it is up.
    down_until: AtomicU64,
    /// Backoff steps taken since Redis went down.
    step: AtomicU32,
    /// A probe is out.
    probing: AtomicBool,
    threshold: u32,
    backoff: Backoff,
    rng: SharedRng,
    /// The state telemetry reports while Redis is down.
    down_state: &'static str,
    telemetry: Telemetry,
}

impl Health {
    pub(crate) fn new(config: &RedisRateConfig, telemetry: Telemetry) -> Arc<Self> {
        let health = Arc::new(Health {
            failures: AtomicU32::new(0),
            down_until: AtomicU64::new(0),
            step: AtomicU32::new(0),
            probing: AtomicBool::new(false),
            threshold: config.failures,
            backoff: Backoff::new(config.backoff, config.max_backoff)
                .jitter(Jitter::Proportional(0.2)),
            rng: SharedRng::seeded_or_random(None),
            down_state: match config.fallback {
                RedisFallback::Local => "local",
                RedisFallback::Refuse => "refusing",
            },
            telemetry,
        });
        health.telemetry.replay_on_bind(&health);
        health
    }

    /// Whether Redis is up (calls go out).
    #[inline]
    pub(crate) fn is_up(&self) -> bool {
        self.down_until.load(Ordering::Relaxed) == 0
    }

    /// While down: how long until a probe may go out (zero when due).
    pub(crate) fn retry_in(&self, now: u64) -> Duration {
        Duration::from_nanos(self.down_until.load(Ordering::Relaxed).saturating_sub(now))
    }

    /// While down: claims the one probe, if its time has come.
    pub(crate) fn claim_probe(&self, now: u64) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        until != 0
            && now >= until
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Gives back a claimed probe that was not sent.
    pub(crate) fn release_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// A call succeeded.
    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.down_until.swap(0, Ordering::AcqRel) != 0 {
            self.step.store(0, Ordering::Relaxed);
            self.telemetry.report(Event::StateChanged {
                from: self.down_state,
                to: SHARED,
            });
        }
        self.probing.store(false, Ordering::Release);
    }

    /// A call failed (an error or a timeout) at `now`.
    pub(crate) fn failure(&self, now: u64) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let down = !self.is_up();
        if down {
            // A probe failed: wait longer.
            let step = self.step.fetch_add(1, Ordering::Relaxed) + 1;
            self.down_until
                .store(self.until(now, step), Ordering::Release);
        } else if failures >= self.threshold {
            self.step.store(0, Ordering::Relaxed);
            if self
                .down_until
                .compare_exchange(0, self.until(now, 0), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.telemetry.report(Event::StateChanged {
                    from: SHARED,
                    to: self.down_state,
                });
            }
        }
        self.probing.store(false, Ordering::Release);
    }

    fn until(&self, now: u64, step: u32) -> u64 {
        let wait = self.backoff.delay(step, Duration::ZERO, &self.rng);
        // Never 0: 0 means up.
        now.saturating_add(nanos(wait)).max(1)
    }

    /// A request decided on this replica's local share because Redis is
    /// down: a fallback, reported as one (`buttress.fallbacks` with cause
    /// `circuit_open` under `<name>/redis`, the state that is open being
    /// Redis' own breaker).
    #[cold]
    pub(crate) fn report_fallback(&self) {
        self.telemetry
            .report(Event::FallbackServed(FallbackCause::Rejected(
                Reason::CircuitOpen,
            )));
    }

    /// The state telemetry shows now.
    fn state(&self) -> &'static str {
        if self.is_up() {
            SHARED
        } else {
            self.down_state
        }
    }
}

impl Replay for Health {
    fn replay(&self, report: &mut dyn FnMut(Event)) {
        let state = self.state();
        report(Event::State(state));
        if self.state() != state {
            report(Event::State(self.state()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::telemetry::LayerKind;

    fn health(failures: u32) -> Arc<Health> {
        let config = RedisRateConfig {
            failures,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RedisRateConfig::default()
        };
        Health::new(&config, Telemetry::disabled(LayerKind::RateLimit, "t"))
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn down_after_the_threshold_then_one_probe_at_a_time() {
        let health = health(2);
        health.failure(1_000 * MS);
        assert!(health.is_up());
        health.failure(1_000 * MS);
        assert!(!health.is_up());
        assert!(!health.claim_probe(1_000 * MS));
        let retry = health.retry_in(1_000 * MS);
        assert!(retry >= Duration::from_millis(80) && retry <= Duration::from_millis(120));
        assert!(health.claim_probe(2_000 * MS));
        assert!(!health.claim_probe(2_000 * MS), "one probe at a time");
        // A failed probe waits longer.
        health.failure(2_000 * MS);
        assert!(health.retry_in(2_000 * MS) >= Duration::from_millis(160));
        assert!(health.claim_probe(3_000 * MS));
        health.success();
        assert!(health.is_up());
        assert!(!health.claim_probe(4_000 * MS));
    }
}
