//! Passive outlier ejection: the breakers judge, the balancer acts.
//!
//! Each endpoint runs up to two circuit breakers of `buttress-breaker`
//! in shadow (metrics-only) mode — one counting failures in a row, one a
//! failure rate — so the ejection's states, its growing and jittered
//! wait and its readmission probes are the breaker's own machine, not a
//! second one. Shadow mode matters: the breakers never refuse a call, so
//! the balancer alone decides whether to honour an `open` verdict, and
//! does so only while fewer than `max_ejection_percent` of the endpoints
//! are ejected. An endpoint over that cap stays in rotation while its
//! breaker cycles, and is ejected once a slot frees and it still fails.
//!
//! The balancer reads the verdict after each call the endpoint answers
//! (the only time a breaker changes state on its own): a few atomic
//! loads.

use std::sync::atomic::Ordering::{AcqRel, Relaxed};

use buttress_breaker::{BreakerConfig, CircuitBreakerHandle, CircuitBreakerLayer, State};
use buttress_core::config::ConfigError;
use buttress_core::layer::LayerBuilder;
use buttress_core::telemetry::QuietSink;

use super::Endpoint;
use super::phase::Phase;

/// The two ejection breakers of one endpoint, as layers.
pub(crate) struct Detectors<J> {
    pub(crate) consecutive: CircuitBreakerLayer<J>,
    pub(crate) rate: CircuitBreakerLayer<J>,
}

impl<J: Clone> Detectors<J> {
    /// Breakers for `consecutive` and `rate` (a missing one is built
    /// disabled: it admits all and records nothing, and keeps the
    /// endpoint's type the same whichever criteria are on).
    pub(crate) fn new(
        consecutive: Option<BreakerConfig>,
        rate: Option<BreakerConfig>,
        judge: &J,
    ) -> Result<Self, ConfigError> {
        Ok(Detectors {
            consecutive: detector(consecutive, judge)?,
            rate: detector(rate, judge)?,
        })
    }

    pub(crate) fn handles(&self) -> [CircuitBreakerHandle; 2] {
        [self.consecutive.handle(), self.rate.handle()]
    }
}

fn detector<J: Clone>(
    config: Option<BreakerConfig>,
    judge: &J,
) -> Result<CircuitBreakerLayer<J>, ConfigError> {
    let on = config.is_some();
    let layer = CircuitBreakerLayer::builder()
        .with_config(config.unwrap_or_default())
        // The balancer reports each endpoint's ejection itself, capped
        // in labels; the breakers' own reports would be one series per
        // endpoint, uncapped, and say `open` where the cap kept it in.
        .sink(QuietSink)
        .classifier(judge.clone())
        .build()?;
    if !on {
        layer.handle().disable();
    }
    Ok(layer)
}

impl<K, D> Endpoint<K, D> {
    /// Acts on the breakers' verdict after a call ended at `now`.
    pub(crate) fn review(&self, now: u64) {
        let states = [self.detectors[0].state(), self.detectors[1].state()];
        let open = states.contains(&State::Open);
        let probing = states.contains(&State::HalfOpen);
        let ejected = self.ejected.load(Relaxed);
        if open {
            if !ejected {
                self.try_eject(now);
            } else if now >= self.ejected_until.load(Relaxed) {
                // Its readmission failed and a breaker re-opened, for a
                // longer wait: the ejection goes on for that long.
                self.eject_until(now);
                self.set_phase(Phase::Open);
            }
        } else if ejected {
            if probing {
                self.set_phase(Phase::HalfOpen);
            } else if self
                .ejected
                .compare_exchange(true, false, AcqRel, Relaxed)
                .is_ok()
            {
                // Every breaker closed again: readmitted, ramping since
                // its ejection ended.
                self.common.fleet.ejected.fetch_sub(1, AcqRel);
                self.set_phase(Phase::Closed);
            }
        }
    }

    /// Ejects it if the fleet's cap allows.
    fn try_eject(&self, now: u64) {
        if self
            .ejected
            .compare_exchange(false, true, AcqRel, Relaxed)
            .is_err()
        {
            return;
        }
        let fleet = &self.common.fleet;
        let cap = self.common.policy.ejection_cap(fleet.size.load(Relaxed));
        let slot = fleet
            .ejected
            .fetch_update(AcqRel, Relaxed, |n| (n < cap).then_some(n + 1));
        if slot.is_err() {
            // Over the cap: it stays in rotation.
            self.ejected.store(false, Relaxed);
            return;
        }
        self.eject_until(now);
        self.set_phase(Phase::Open);
    }

    /// Ejected until the open breakers' wait ends.
    fn eject_until(&self, now: u64) {
        let wait = self
            .detectors
            .iter()
            .filter_map(|handle| handle.stats().open_for)
            .max()
            .unwrap_or_default();
        let until = now.saturating_add(buttress_core::clock::nanos(wait));
        self.ejected_until.store(until, Relaxed);
        // Slow start from the moment it may be chosen again.
        self.ramp_from.store(until.max(1), Relaxed);
        self.ejections.fetch_add(1, Relaxed);
    }
}
