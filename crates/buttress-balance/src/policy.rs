//! The validated settings, in the units the request path works in, and
//! the fleet's counts every endpoint shares.

use std::sync::atomic::AtomicUsize;

use buttress_core::clock::nanos;

use crate::BalanceConfig;

/// The numbers the request path reads, from a validated config.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) default_rtt_ns: f64,
    pub(crate) decay_ns: f64,
    pub(crate) overload_penalty_ns: f64,
    pub(crate) slow_start_ns: Option<u64>,
    max_ejection_percent: f64,
    pub(crate) config: BalanceConfig,
}

impl Policy {
    pub(crate) fn new(config: &BalanceConfig) -> Self {
        Policy {
            default_rtt_ns: nanos(config.load.default_rtt) as f64,
            decay_ns: (nanos(config.load.decay) as f64).max(1.0),
            overload_penalty_ns: nanos(config.load.overload_penalty) as f64,
            slow_start_ns: config.slow_start.map(nanos).filter(|&n| n > 0),
            max_ejection_percent: config.ejection.max_ejection_percent,
            config: config.clone(),
        }
    }

    /// How many of `endpoints` may be ejected at once.
    pub(crate) fn ejection_cap(&self, endpoints: usize) -> usize {
        crate::config::ejection_cap(self.max_ejection_percent, endpoints)
    }
}

/// The fleet's counts: how many endpoints, how many ejected.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    pub(crate) size: AtomicUsize,
    pub(crate) ejected: AtomicUsize,
}
