//! What every key of a distributed rate limit shares: the Redis client,
//! its breaker, each class's figures, the counters, and the refill task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock::{nanos, ticks};
use buttress_core::layer::BuildEnv;
use buttress_core::telemetry::LayerKind;
use tokio::time::Instant;

use super::client::RedisClient;
use super::config::{RedisFallback, RedisRateConfig};
use super::health::Health;
use super::lease::Lease;
use super::stats::DistributedStats;
use crate::ConfigError;
use crate::rate::gcra::Rate;
use crate::rate::quota::QuotaConfig;

/// The longest a refill task sleeps through Redis' refusal to lease again
/// for a key still wanted; longer waits are left to the next request.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The least lead a refill asks for: tokio's timer wakes up to a
/// millisecond late, and a busy runtime later still.
const MIN_LEAD: Duration = Duration::from_millis(10);

/// What a refill task does after a call.
enum Next {
    /// Stop: the call failed or was not sent.
    Stop,
    /// The call answered; stop unless something is owed.
    Done,
    /// Redis refused: sleep this long, then ask again if still wanted.
    Sleep(Duration),
}

/// One class's figures as Redis and the local share use them.
pub(crate) struct ClassRates {
    /// The whole quota: nanoseconds per unit and of a full bucket.
    quota: Rate,
    /// Permits leased per call (the configured lease, at most a burst).
    lease: u64,
    /// Refill when a lease falls to this many.
    low_water: u64,
    /// This replica's share, for fallback and pending answers.
    pub(crate) share: Rate,
}

impl ClassRates {
    fn new(quota: &QuotaConfig, config: &RedisRateConfig) -> Self {
        let lease = u64::from(config.lease.min(quota.burst).max(1));
        let replicas = config.replicas.max(1);
        ClassRates {
            quota: Rate::new(quota.limit, quota.period, quota.burst),
            lease,
            low_water: lease / 2,
            // `limit / replicas` per period is `limit` per `period × replicas`
            // (at most a day × 10,000: far inside the nanosecond clock).
            share: Rate::new(
                quota.limit,
                quota.period.saturating_mul(replicas),
                (quota.burst / replicas).max(1),
            ),
        }
    }
}

/// Counters the handle reads; only the rare paths count, so the hot path
/// writes no shared line.
#[derive(Default)]
struct Counters {
    provisional: AtomicU64,
    fallback: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
    refills: AtomicU64,
    skipped: AtomicU64,
}

/// A distributed rate limit's shared machinery.
pub(crate) struct Engine {
    client: RedisClient,
    pub(crate) health: Arc<Health>,
    pub(crate) fallback: RedisFallback,
    /// Class 0 is `default`, then the overrides, as in the limiter.
    classes: Box<[ClassRates]>,
    /// `<prefix><name>:`, each key's Redis name starts with it.
    namespace: Box<[u8]>,
    counters: Counters,
}

impl Engine {
    /// Opens the client (parsing the URL) and registers `<name>/redis`.
    pub(crate) fn new(
        config: &RedisRateConfig,
        name: &str,
        quotas: &[&QuotaConfig],
        env: &BuildEnv,
    ) -> Result<Arc<Self>, ConfigError> {
        let telemetry = env.telemetry(LayerKind::RateLimit, Some(&format!("{name}/redis")));
        let client = RedisClient::open(config, telemetry.clone())?;
        let mut namespace = config.key_prefix.as_bytes().to_vec();
        namespace.extend_from_slice(name.as_bytes());
        namespace.push(b':');
        Ok(Arc::new(Engine {
            client,
            health: Health::new(config, telemetry),
            fallback: config.fallback,
            classes: quotas
                .iter()
                .map(|quota| ClassRates::new(quota, config))
                .collect(),
            namespace: namespace.into_boxed_slice(),
            counters: Counters::default(),
        }))
    }

    /// A fresh lease for `key` of class `class` (`class_name` as the
    /// limiter names it).
    pub(crate) fn lease(&self, class: usize, class_name: &str, key: &[u8]) -> Lease {
        let mut name = Vec::with_capacity(self.namespace.len() + class_name.len() + 1 + key.len());
        name.extend_from_slice(&self.namespace);
        name.extend_from_slice(class_name.as_bytes());
        name.push(b':');
        name.extend_from_slice(key);
        Lease::new(name.into_boxed_slice(), class)
    }

    /// The class's figures.
    #[inline]
    pub(crate) fn rates(&self, class: usize) -> &ClassRates {
        &self.classes[class]
    }

    /// Whether a lease left at `left` permits should be refilled now.
    #[inline]
    pub(crate) fn low(&self, class: usize, left: u64) -> bool {
        left <= self.classes[class].low_water
    }

    pub(crate) fn count_provisional(&self) {
        self.counters.provisional.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_fallback(&self) {
        self.counters.fallback.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether [`refill`](Self::refill) would leave a refill out for
    /// `lease`: one is out already, or a runtime is here to send one.
    pub(crate) fn can_refill(&self, lease: &Lease) -> bool {
        lease.is_refilling() || tokio::runtime::Handle::try_current().is_ok()
    }

    /// Sends a refill for `lease` in the background, unless one is out or
    /// no runtime runs here. Returns whether one is out now: what the
    /// key's local share admits meanwhile is then charged with it.
    pub(crate) fn refill(self: &Arc<Self>, lease: &Arc<Lease>) -> bool {
        if lease.is_refilling() {
            return true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if !lease.claim_refill() {
            return true;
        }
        runtime.spawn(Arc::clone(self).run(Arc::clone(lease), Duration::ZERO));
        true
    }

    /// A request was refused on Redis' last answer, which holds `wait`
    /// more: unless a refill is out, one goes out just before the wait
    /// ends (a lead early), so that a key kept over its quota has its next
    /// answer on hand when the refusal ends, instead of deciding on its
    /// local share while it comes. Longer refusals are left to the first
    /// request after them.
    pub(crate) fn follow(self: &Arc<Self>, lease: &Arc<Lease>, wait: Duration) {
        if wait > MAX_SLEEP || lease.is_refilling() || !self.health.is_up() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if lease.claim_refill() {
            let first = wait.saturating_sub(self.lead());
            runtime.spawn(Arc::clone(self).run(Arc::clone(lease), first));
        }
    }

    /// How far ahead of conforming a permit may be leased: two round
    /// trips, and at least [`MIN_LEAD`].
    fn lead(&self) -> Duration {
        self.client
            .rtt()
            .saturating_mul(2)
            .max(MIN_LEAD)
            .min(MAX_SLEEP)
    }

    /// While Redis is down: sends the one probe when its time has come,
    /// as a refill for `lease`.
    pub(crate) fn probe(self: &Arc<Self>, lease: &Arc<Lease>, now: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.health.claim_probe(now) {
            if lease.claim_refill() {
                runtime.spawn(Arc::clone(self).run(Arc::clone(lease), Duration::ZERO));
            } else {
                // This key's last call is still out: another request
                // probes.
                self.health.release_probe();
            }
        }
    }

    /// The refill task: leases permits for one key, and — while Redis
    /// refuses a key that is still wanted — asks again just before the
    /// refusal ends, so that the next answer is there when it does.
    async fn run(self: Arc<Self>, lease: Arc<Lease>, first: Duration) {
        if !first.is_zero() {
            tokio::time::sleep(first).await;
        }
        loop {
            match self.refill_once(&lease).await {
                Next::Sleep(wait) => {
                    tokio::time::sleep(wait).await;
                    if !lease.take_wanted() || !self.health.is_up() {
                        break;
                    }
                }
                // Units admitted on the local share while the call was
                // out are charged now, not whenever the key next refills.
                Next::Done if lease.owes() => {}
                Next::Done | Next::Stop => break,
            }
        }
        lease.end_refill();
    }

    /// One call; says what the task does next.
    async fn refill_once(&self, lease: &Lease) -> Next {
        let Some(slot) = self.client.try_slot() else {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Next::Stop;
        };
        let rates = &self.classes[lease.class];
        let want = rates.lease.saturating_sub(lease.held());
        let debt = lease.take_debt();
        // Permits that conform within the lead may be leased now, held
        // until they conform: a key over its quota then has its next
        // permit on hand when Redis' refusal ends.
        let lead = self.lead();
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .client
            .lease(
                &lease.key,
                [
                    rates.quota.interval,
                    rates.quota.capacity,
                    want,
                    debt,
                    nanos(lead),
                ],
            )
            .await;
        drop(slot);
        let now = ticks(Instant::now());
        let reply = match answer {
            Ok(reply) => reply,
            Err(_) => {
                // What was owed is lost with the call: Redis under-counts
                // by it, once.
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.health.failure(now);
                return Next::Stop;
            }
        };
        self.health.success();
        if reply.granted > 0 {
            self.counters.refills.fetch_add(1, Ordering::Relaxed);
        }
        let wait = Duration::from_micros(reply.wait_us);
        lease.apply(
            now,
            reply.granted,
            Duration::from_micros(reply.valid_after_us),
            wait,
            Duration::from_micros(reply.reset_us),
        );
        if reply.granted == 0 && wait <= MAX_SLEEP {
            // Clear the note so that only requests refused from here on
            // keep the key wanted.
            lease.take_wanted();
            return Next::Sleep(wait.saturating_sub(lead));
        }
        Next::Done
    }

    /// The counters, for the handle.
    pub(crate) fn stats(&self) -> DistributedStats {
        let c = &self.counters;
        DistributedStats {
            provisional: c.provisional.load(Ordering::Relaxed),
            fallback: c.fallback.load(Ordering::Relaxed),
            redis_calls: c.calls.load(Ordering::Relaxed),
            redis_errors: c.errors.load(Ordering::Relaxed),
            refills: c.refills.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            in_flight: self.client.in_flight(),
            redis_up: self.health.is_up(),
        }
    }
}
