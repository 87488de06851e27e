//! The adaptive limit's configuration, as data, and its validation.

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerConfig};
use buttress_core::telemetry::LayerKind;

use super::algorithm::{Algorithm, LimitAlgorithm};
use super::layer::AdaptiveLimitLayer;
use super::limiter::Limiter;
use crate::ConfigError;
use crate::permit::QueueOrder;

/// The limit an adaptive limit starts from when its config gives none
/// (clamped into `min_limit..=max_limit`).
const DEFAULT_INITIAL_LIMIT: usize = 20;

/// An adaptive limit's configuration, as data (loadable from TOML or JSON,
/// durations written like `"100ms"`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `adaptive_limit` | what it reports under |
/// | `algorithm` | gradient | how the limit moves |
/// | `min_limit`, `max_limit` | 4, 1000 | the limit's bounds |
/// | `initial_limit` | 20, clamped into the bounds | the limit to start from |
/// | `window`, `window_min_calls` | 100 ms, 10 | the shortest sampling window |
/// | `drop_above` | none | calls slower than this count as drops |
/// | `baseline_windows` | 600 | windows the baseline round trip averages over |
/// | `probe_interval`, `probe_jitter` | 60 s, 0.15 | re-measuring the unloaded round trip |
/// | `queue_capacity`, `max_wait` | 1000, 100 ms | the queue in front of the limit |
/// | `codel_target`, `codel_interval` | 5 ms, 100 ms | the queue's patience once it stands |
/// | `order` | FIFO | which waiter is served first |
/// | `retry_after` | 1 s | the retry hint of a rejection |
/// | `seed` | random | seed of the probe jitter |
///
/// Settings implied by others are derived, not demanded: without an
/// `initial_limit` the limit starts at 20 clamped into the bounds, and
/// `codel_target` never exceeds `max_wait` (a `max_wait` of zero makes
/// every wait zero).
///
/// ```
/// use buttress_core::layer::{LayerConfig, LayerHandle};
/// use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitLayer, Algorithm, Vegas};
///
/// let config = AdaptiveLimitConfig {
///     name: Some("search".into()),
///     algorithm: Algorithm::Vegas(Vegas::default()),
///     max_limit: 500,
///     ..AdaptiveLimitConfig::default()
/// };
/// let layer = AdaptiveLimitLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().limit(), 20);
/// assert_eq!(layer.handle().id().name(), "search");
///
/// // A low maximum implies a low start.
/// let small = AdaptiveLimitConfig { max_limit: 8, ..AdaptiveLimitConfig::default() };
/// assert_eq!(small.build().unwrap().handle().limit(), 8);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveLimitConfig {
    /// The name the layer reports under; `None`: the stack's name, else
    /// `adaptive_limit`.
    pub name: Option<String>,
    /// How the limit moves.
    pub algorithm: Algorithm,
    /// The limit never falls below this (at least 1).
    pub min_limit: usize,
    /// The limit never rises above this.
    pub max_limit: usize,
    /// The limit to start from, within `min_limit..=max_limit`; `None`:
    /// 20, clamped into those bounds.
    pub initial_limit: Option<usize>,
    /// The shortest sampling window (at most a day); a window also lasts
    /// at least two no-load round trips, and holds at least
    /// `window_min_calls` calls.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The fewest calls a window needs before the limit moves.
    pub window_min_calls: u32,
    /// Calls slower than this count as drops (for AIMD: a timeout is a
    /// loss). `None`: only failures by the classifier are drops.
    #[serde(with = "humantime_serde")]
    pub drop_above: Option<Duration>,
    /// How many windows the baseline round trip averages over (an
    /// exponentially-decaying average with weight `2 / (n + 1)`, like
    /// Netflix Gradient2's long-term RTT; at least 1, at most 100,000).
    /// The algorithms compare each window's mean round trip against it.
    /// Long enough that a client flooding a cheap route (a 404) moves it
    /// little, and that it drifts little during a long overload; the
    /// probes pull it towards the unloaded round trip.
    pub baseline_windows: u32,
    /// How often the unloaded round-trip time is re-measured (at most a
    /// day): the limit drops to `min_limit` for one window, so the
    /// dependency drains and shows its unloaded speed again; the baseline
    /// moves halfway to that window's mean.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// Up to this fraction of `probe_interval` is added at random to each
    /// interval, so replicas do not probe (and dip) together.
    pub probe_jitter: f64,
    /// Callers that may wait for a permit; 0 rejects at once.
    pub queue_capacity: usize,
    /// The longest a caller waits while the queue is healthy (never past
    /// its request's deadline); zero rejects at once. At most a day.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// CoDel's target: once the queue has not emptied for
    /// `codel_interval`, new waiters wait at most this long (and never
    /// longer than `max_wait`).
    #[serde(with = "humantime_serde")]
    pub codel_target: Duration,
    /// CoDel's interval: how long the queue may stay non-empty before it
    /// counts as a standing queue.
    #[serde(with = "humantime_serde")]
    pub codel_interval: Duration,
    /// Which waiter is served first.
    pub order: QueueOrder,
    /// The retry hint given with a rejection.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Seed of the probe jitter, for repeatable runs; random if unset.
    pub seed: Option<u64>,
}

impl Default for AdaptiveLimitConfig {
    fn default() -> Self {
        AdaptiveLimitConfig {
            name: None,
            algorithm: Algorithm::default(),
            min_limit: 4,
            max_limit: 1000,
            initial_limit: None,
            window: Duration::from_millis(100),
            window_min_calls: 10,
            drop_above: None,
            baseline_windows: 600,
            probe_interval: Duration::from_secs(60),
            probe_jitter: 0.15,
            queue_capacity: 1000,
            max_wait: Duration::from_millis(100),
            codel_target: Duration::from_millis(5),
            codel_interval: Duration::from_millis(100),
            order: QueueOrder::Fifo,
            retry_after: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl AdaptiveLimitConfig {
    /// The limit the layer starts from: `initial_limit`, else 20 clamped
    /// into `min_limit..=max_limit`.
    pub fn effective_initial_limit(&self) -> usize {
        self.initial_limit.unwrap_or_else(|| {
            DEFAULT_INITIAL_LIMIT.clamp(self.min_limit, self.max_limit.max(self.min_limit))
        })
    }

    /// The patience of a standing queue: `codel_target`, never more than
    /// `max_wait`.
    pub fn effective_codel_target(&self) -> Duration {
        self.codel_target.min(self.max_wait)
    }
}

impl LayerConfig for AdaptiveLimitConfig {
    type Layer = AdaptiveLimitLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem| Err(ConfigError::new(field, problem));
        if self.name.as_deref() == Some("") {
            return fail("name", "must not be empty");
        }
        if self.min_limit == 0 {
            return fail("min_limit", "must be at least 1");
        }
        if self.max_limit < self.min_limit {
            return fail("max_limit", "must be at least min_limit");
        }
        if let Some(initial) = self.initial_limit
            && !(self.min_limit..=self.max_limit).contains(&initial)
        {
            return fail("initial_limit", "must be within min_limit..=max_limit");
        }
        let nonzero = Duration::from_nanos(1);
        check_duration("window", self.window, nonzero..=MAX_DURATION)?;
        if self.window_min_calls == 0 {
            return fail("window_min_calls", "must be at least 1");
        }
        if let Some(drop_above) = self.drop_above {
            check_duration("drop_above", drop_above, nonzero..=MAX_DURATION)?;
        }
        if !(1..=100_000).contains(&self.baseline_windows) {
            return fail("baseline_windows", "must be within 1..=100000");
        }
        check_duration(
            "probe_interval",
            self.probe_interval,
            nonzero..=MAX_DURATION,
        )?;
        if !(0.0..=1.0).contains(&self.probe_jitter) {
            return fail("probe_jitter", "must be within 0..=1");
        }
        check_duration("max_wait", self.max_wait, Duration::ZERO..=MAX_DURATION)?;
        check_duration(
            "codel_target",
            self.codel_target,
            Duration::ZERO..=MAX_DURATION,
        )?;
        check_duration(
            "codel_interval",
            self.codel_interval,
            nonzero..=MAX_DURATION,
        )?;
        check_duration(
            "retry_after",
            self.retry_after,
            Duration::ZERO..=MAX_DURATION,
        )?;
        self.algorithm.validate()
    }

    fn build_in(&self, env: &BuildEnv) -> Result<AdaptiveLimitLayer, ConfigError> {
        build(self.clone(), env, None, DefaultClassifier::default())
    }
}

/// Validates `config` and builds the layer in `env`, with `custom` as its
/// algorithm if given, else the config's.
pub(super) fn build<C>(
    config: AdaptiveLimitConfig,
    env: &BuildEnv,
    custom: Option<Box<dyn LimitAlgorithm>>,
    classifier: C,
) -> Result<AdaptiveLimitLayer<C>, ConfigError> {
    config.validate()?;
    let telemetry = env.telemetry(LayerKind::AdaptiveLimit, config.name.as_deref());
    let algorithm = custom.unwrap_or_else(|| config.algorithm.boxed());
    let limiter = Arc::new(Limiter::new(config, algorithm, telemetry));
    // A sink installed after this limit was built learns its gauges when
    // it binds.
    limiter.telemetry.replay_on_bind(&limiter);
    limiter.telemetry.describe_config(&limiter, |l| &l.current);
    Ok(AdaptiveLimitLayer::new(limiter, classifier))
}
