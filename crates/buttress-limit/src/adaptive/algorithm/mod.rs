//! How the limit moves: the [`LimitAlgorithm`] trait and its three
//! implementations.
//!
//! The limiter gathers samples over a window (see
//! [`AdaptiveLimitConfig::window`](super::AdaptiveLimitConfig::window))
//! and asks the algorithm for a new limit once per window, with a
//! [`Sample`] summarising it. Algorithms see a window, not each call: the
//! per-call path only adds to a few atomic counters.

mod aimd;
mod gradient;
mod vegas;

use std::fmt;
use std::time::Duration;

pub use self::aimd::Aimd;
pub use self::gradient::Gradient;
pub use self::vegas::Vegas;

/// What one window of completed calls looked like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The mean round-trip time of the window's calls (admission to
    /// response; queueing in front of the limit is not included).
    pub rtt: Duration,
    /// The smallest round-trip time of the window.
    pub min_rtt_in_window: Duration,
    /// The baseline round-trip time the window is judged against: an
    /// exponentially-decaying average of past windows' means (over
    /// [`baseline_windows`](super::AdaptiveLimitConfig::baseline_windows)),
    /// pulled towards the unloaded round trip by each re-probe. Not the
    /// fastest call ever seen, which one cheap route would set.
    pub no_load_rtt: Duration,
    /// Calls the window counted.
    pub calls: u32,
    /// Calls that count as drops: failures by the classifier, and calls
    /// slower than the configured drop threshold.
    pub drops: u32,
    /// The most calls in flight seen when a call of the window completed.
    pub max_in_flight: usize,
}

impl Sample {
    /// Whether the window saw any drop.
    pub fn dropped(&self) -> bool {
        self.drops > 0
    }
}

/// Computes a new concurrency limit from the last window.
///
/// Called at most once per window, by one thread, never on a call's hot
/// path; the result is clamped to the configured minimum and maximum, and
/// not raised while the limit is not being used (fewer than half its
/// permits out), so an idle service does not grow an unearned limit.
pub trait LimitAlgorithm: fmt::Debug + Send + 'static {
    /// A short name for telemetry and debugging.
    fn name(&self) -> &'static str;

    /// The new limit, given the current one and the window's sample.
    fn update(&mut self, limit: f64, sample: &Sample) -> f64;
}

/// The built-in algorithms, as data (for config files).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Algorithm {
    /// See [`Gradient`].
    Gradient(Gradient),
    /// See [`Vegas`].
    Vegas(Vegas),
    /// See [`Aimd`].
    Aimd(Aimd),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Gradient(Gradient::default())
    }
}

impl Algorithm {
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        match self {
            Algorithm::Gradient(g) => g.validate(),
            Algorithm::Vegas(v) => v.validate(),
            Algorithm::Aimd(a) => a.validate(),
        }
    }

    pub(crate) fn boxed(self) -> Box<dyn LimitAlgorithm> {
        match self {
            Algorithm::Gradient(g) => Box::new(g),
            Algorithm::Vegas(v) => Box::new(v),
            Algorithm::Aimd(a) => Box::new(a),
        }
    }
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    numerator.as_secs_f64() / denominator.as_secs_f64().max(f64::MIN_POSITIVE)
}
