//! Calls in flight, with high and low watermarks.

use super::{OverloadSignal, Pressure, Probe};

/// Overloaded above `high` calls in flight, relieved at or below `low`:
/// shedding starts above the high mark and low-priority work is let back
/// in only below the low one (hysteresis). Reads no clock.
///
/// ```
/// use buttress_limit::shed::{InFlightSignal, OverloadSignal, Pressure, Probe};
///
/// let signal = InFlightSignal::new(100, 80);
/// assert_eq!(signal.pressure(&Probe::new(80)), Pressure::Relieved);
/// assert_eq!(signal.pressure(&Probe::new(90)), Pressure::Steady);
/// assert_eq!(signal.pressure(&Probe::new(101)), Pressure::Overloaded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightSignal {
    high: usize,
    low: usize,
}

impl InFlightSignal {
    /// Watermarks `high` and `low`, `low <= high` (a
    /// [`ShedConfig`](crate::shed::ShedConfig) refuses a `low` above
    /// `high`; this constructor, being `const`, does not check).
    pub const fn new(high: usize, low: usize) -> Self {
        InFlightSignal { high, low }
    }
}

impl OverloadSignal for InFlightSignal {
    #[inline]
    fn pressure(&self, probe: &Probe) -> Pressure {
        let n = probe.in_flight;
        if n > self.high {
            Pressure::Overloaded
        } else if n <= self.low {
            Pressure::Relieved
        } else {
            Pressure::Steady
        }
    }
}
