//! The Vegas limit.

use super::{LimitAlgorithm, Sample, ratio};
use crate::ConfigError;

/// TCP Vegas applied to concurrency: estimates how many calls queue at the
/// dependency, `queue = limit · (1 − no_load_rtt / rtt)`, and keeps that
/// between `alpha` and `beta` (which scale with log10 of the limit).
///
/// Below `alpha` the limit grows (by `beta` while nothing queues at all,
/// to find the dependency's capacity fast), above `beta` it shrinks by
/// log10(limit); a drop shrinks it too.
///
/// ```
/// use buttress_limit::adaptive::{LimitAlgorithm, Sample, Vegas};
/// use std::time::Duration;
///
/// let mut vegas = Vegas::default();
/// let ms = Duration::from_millis;
/// let sample = |rtt| Sample { rtt, min_rtt_in_window: rtt, no_load_rtt: ms(10), calls: 100, drops: 0, max_in_flight: 100 };
/// assert!(vegas.update(100.0, &sample(ms(10))) > 100.0);
/// assert!(vegas.update(100.0, &sample(ms(15))) < 100.0); // ~33 queued
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vegas {
    /// Queued calls tolerated before growing slowly, per log10(limit).
    pub alpha: f64,
    /// Queued calls beyond which the limit shrinks, per log10(limit).
    pub beta: f64,
    /// Weight of the new value against the old (1 = no smoothing).
    pub smoothing: f64,
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas {
            alpha: 3.0,
            beta: 6.0,
            smoothing: 1.0,
        }
    }
}

impl Vegas {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.alpha > 0.0 && self.beta > self.alpha) {
            return Err(ConfigError::new(
                "vegas.beta",
                "must exceed alpha, itself above 0",
            ));
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new("vegas.smoothing", "must be within (0, 1]"));
        }
        Ok(())
    }
}

impl LimitAlgorithm for Vegas {
    fn name(&self) -> &'static str {
        "vegas"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> f64 {
        let log = limit.max(1.0).log10().max(1.0);
        let target = if sample.dropped() {
            limit - log
        } else {
            let queue = limit * (1.0 - ratio(sample.no_load_rtt, sample.rtt)).max(0.0);
            if queue <= log {
                limit + self.beta * log
            } else if queue < self.alpha * log {
                limit + log
            } else if queue > self.beta * log {
                limit - log
            } else {
                limit
            }
        };
        limit * (1.0 - self.smoothing) + target * self.smoothing
    }
}
