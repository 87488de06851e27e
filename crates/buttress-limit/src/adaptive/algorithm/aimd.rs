//! The AIMD limit.

use super::{LimitAlgorithm, Sample};
use crate::ConfigError;

/// Loss-based, like TCP Reno: grows while no call is dropped, cuts the
/// limit by a factor when one is. For clients, where the signal is the
/// dependency's failures and timeouts (by `Classify`, and calls slower
/// than the limiter's drop threshold) rather than its latency curve.
///
/// Starts in slow start — doubling per window — until the first drop, then
/// adds `increase` per window and multiplies by `backoff` on a drop.
///
/// ```
/// use buttress_limit::adaptive::{Aimd, LimitAlgorithm, Sample};
/// use std::time::Duration;
///
/// let mut aimd = Aimd::default();
/// let ms = Duration::from_millis(10);
/// let window = |drops| Sample { rtt: ms, min_rtt_in_window: ms, no_load_rtt: ms, calls: 100, drops, max_in_flight: 20 };
/// assert_eq!(aimd.update(20.0, &window(0)), 40.0); // slow start
/// assert_eq!(aimd.update(40.0, &window(3)), 36.0); // drop: × 0.9
/// assert_eq!(aimd.update(36.0, &window(0)), 37.0); // then additive
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Aimd {
    /// Added per window without a drop (after slow start).
    pub increase: f64,
    /// Factor applied on a window with a drop, in (0, 1).
    pub backoff: f64,
    /// Whether to double per window until the first drop.
    pub slow_start: bool,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd {
            increase: 1.0,
            backoff: 0.9,
            slow_start: true,
        }
    }
}

impl Aimd {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.backoff > 0.0 && self.backoff < 1.0) {
            return Err(ConfigError::new("aimd.backoff", "must be within (0, 1)"));
        }
        if self.increase.is_nan() || self.increase <= 0.0 {
            return Err(ConfigError::new("aimd.increase", "must be above 0"));
        }
        Ok(())
    }
}

impl LimitAlgorithm for Aimd {
    fn name(&self) -> &'static str {
        "aimd"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> f64 {
        if sample.dropped() {
            self.slow_start = false;
            limit * self.backoff
        } else if self.slow_start {
            limit * 2.0
        } else {
            limit + self.increase
        }
    }
}
