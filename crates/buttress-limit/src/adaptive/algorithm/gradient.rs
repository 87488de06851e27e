//! The gradient limit.

use super::{LimitAlgorithm, Sample, ratio};
use crate::ConfigError;

/// Moves the limit by the gradient of latency: the ratio of the baseline
/// round-trip time ([`Sample::no_load_rtt`], a long-term average of the
/// windows' means, as Netflix Gradient2's long-term RTT) to the window's.
///
/// `gradient = clamp((1 + tolerance) · no_load_rtt / rtt, 0.5, 2.0)`, and
/// `new = gradient · limit + √limit`, smoothed. While calls take no longer
/// than the baseline (within the tolerance) the limit grows; once they
/// queue at the dependency, the round trip stretches in proportion and the
/// limit falls, keeping a small headroom (√limit) so the dependency is
/// never left idle. A window faster than the baseline (a client flooding a
/// cheap route) can only let the limit grow, and only while it is used;
/// the baseline, an average, moves little when the flood ends.
///
/// ```
/// use buttress_limit::adaptive::{Gradient, LimitAlgorithm, Sample};
/// use std::time::Duration;
///
/// let mut gradient = Gradient::default();
/// let ms = Duration::from_millis;
/// let sample = |rtt| Sample { rtt, min_rtt_in_window: rtt, no_load_rtt: ms(10), calls: 100, drops: 0, max_in_flight: 100 };
/// assert!(gradient.update(100.0, &sample(ms(10))) > 100.0); // as usual: grow
/// assert!(gradient.update(100.0, &sample(ms(20))) < 100.0); // queueing: shrink
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gradient {
    /// How much slower than no-load a window may be before the limit
    /// shrinks (0.1 = 10 %).
    pub tolerance: f64,
    /// Weight of the new value against the old (1 = no smoothing).
    pub smoothing: f64,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient {
            tolerance: 0.1,
            smoothing: 0.3,
        }
    }
}

impl Gradient {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.tolerance) {
            return Err(ConfigError::new(
                "gradient.tolerance",
                "must be within 0..=1",
            ));
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "gradient.smoothing",
                "must be within (0, 1]",
            ));
        }
        Ok(())
    }
}

impl LimitAlgorithm for Gradient {
    fn name(&self) -> &'static str {
        "gradient"
    }

    fn update(&mut self, limit: f64, sample: &Sample) -> f64 {
        let gradient =
            ((1.0 + self.tolerance) * ratio(sample.no_load_rtt, sample.rtt)).clamp(0.5, 2.0);
        let target = gradient * limit + limit.sqrt();
        limit * (1.0 - self.smoothing) + target * self.smoothing
    }
}
