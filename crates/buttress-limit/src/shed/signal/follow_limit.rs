//! Calls in flight against an adaptive limit's current limit.

use super::{OverloadSignal, Pressure, Probe};
use crate::adaptive::AdaptiveLimitHandle;

/// Watermarks that follow an adaptive limit placed behind the shedder,
/// rather than fixed ones (a fixed 1,000 in flight is never reached in
/// front of a limit of 25): overloaded above 1.5× the limit in flight
/// (half a limit's worth of calls queued for a permit), relieved at or
/// below ¾ of it.
///
/// So gated (lower-priority) work only ever takes a free permit, never a
/// place in the limit's queue, and leaves a quarter of the permits to the
/// work not gated, which would otherwise queue behind it and meet the
/// queue's short patience under overload; the limit grows until ¾ of it
/// keeps the handler busy. The server stack gives its shedder this signal
/// when the adaptive limit is on and the shed signal is left at its
/// default. Reads no clock.
///
/// ```
/// use buttress_limit::shed::{FollowLimitSignal, OverloadSignal, Pressure, Probe};
/// use buttress_limit::{AdaptiveLimitConfig, AdaptiveLimitLayer};
///
/// let limit = AdaptiveLimitLayer::from_config(&AdaptiveLimitConfig {
///     initial_limit: Some(20),
///     ..AdaptiveLimitConfig::default()
/// })
/// .unwrap();
/// let signal = FollowLimitSignal::new(limit.handle());
/// assert_eq!(signal.pressure(&Probe::new(15)), Pressure::Relieved);
/// assert_eq!(signal.pressure(&Probe::new(25)), Pressure::Steady);
/// assert_eq!(signal.pressure(&Probe::new(31)), Pressure::Overloaded);
/// ```
#[derive(Debug, Clone)]
pub struct FollowLimitSignal {
    limit: AdaptiveLimitHandle,
}

impl FollowLimitSignal {
    /// Watermarks that follow the limit `limit` reads.
    pub fn new(limit: AdaptiveLimitHandle) -> Self {
        FollowLimitSignal { limit }
    }
}

impl OverloadSignal for FollowLimitSignal {
    #[inline]
    fn pressure(&self, probe: &Probe) -> Pressure {
        let (limit, n) = (self.limit.limit(), probe.in_flight());
        if 4 * n <= 3 * limit {
            Pressure::Relieved
        } else if 2 * n > 3 * limit {
            Pressure::Overloaded
        } else {
            Pressure::Steady
        }
    }
}
