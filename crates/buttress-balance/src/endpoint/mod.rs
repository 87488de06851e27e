//! One endpoint as the balancer keeps it: its service, its load, whether
//! it is ejected or unhealthy, and how far into slow start it is.
//!
//! Everything a request reads or writes here is an atomic: the table of
//! endpoints is shared by every clone of the balancer, and choosing an
//! endpoint must not take a lock.

mod eject;
pub(crate) mod ewma;
mod phase;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::time::Duration;

use buttress_breaker::{CircuitBreaker, CircuitBreakerHandle};
use buttress_core::Outcome;
use buttress_core::telemetry::{Event, Telemetry};

pub(crate) use self::eject::Detectors;
use self::ewma::PeakEwma;
use self::phase::{Phase, PhaseCell};
use crate::policy::{Fleet, Policy};
use crate::telemetry::Label;

/// The endpoint's service as the balancer calls it: the user's service,
/// under the two shadow breakers that judge it for ejection.
pub(crate) type Detected<S, J> = CircuitBreaker<CircuitBreaker<S, J>, J>;

/// What the balancer and every clone of it share about one endpoint.
pub(crate) struct Endpoint<K, D> {
    pub(crate) key: K,
    pub(crate) service: D,
    pub(crate) detectors: [CircuitBreakerHandle; 2],
    pub(crate) common: Arc<Common>,
    load: PeakEwma,
    in_flight: AtomicU64,
    requests: AtomicU64,
    /// Honouring the detectors' verdict (it holds one of the fleet's
    /// ejection slots).
    ejected: AtomicBool,
    /// Until when, in clock ticks.
    ejected_until: AtomicU64,
    ejections: AtomicU64,
    /// Slow start began here, in clock ticks; 0: no ramp.
    ramp_from: AtomicU64,
    /// Out of rotation by active health checks.
    unhealthy: AtomicBool,
    /// Consecutive health checks that disagreed with `unhealthy`.
    streak: AtomicU32,
    phase: PhaseCell,
    label: Option<Label>,
}

/// What every endpoint of one balancer shares: its policy and the fleet's
/// counts.
#[derive(Debug)]
pub(crate) struct Common {
    pub(crate) policy: Policy,
    pub(crate) fleet: Fleet,
}

impl<K, D> Endpoint<K, D> {
    pub(crate) fn new(
        key: K,
        service: D,
        detectors: [CircuitBreakerHandle; 2],
        common: Arc<Common>,
        now: u64,
        ramp: bool,
        label: Option<Label>,
    ) -> Self {
        let default_rtt = common.policy.default_rtt_ns;
        Endpoint {
            key,
            service,
            detectors,
            common,
            load: PeakEwma::new(default_rtt, now),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            ejected: AtomicBool::new(false),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            ramp_from: AtomicU64::new(if ramp { now.max(1) } else { 0 }),
            unhealthy: AtomicBool::new(false),
            streak: AtomicU32::new(0),
            phase: PhaseCell::new(),
            label,
        }
    }

    fn telemetry(&self) -> Option<&Telemetry> {
        self.label.as_ref().map(Label::telemetry)
    }

    /// Whether it may be chosen at `now`: healthy, and not ejected (an
    /// ejection whose time is up may be chosen, and its next calls are
    /// the readmission's probes).
    #[inline]
    pub(crate) fn available(&self, now: u64) -> bool {
        let ejected = self.ejected.load(Relaxed) && now < self.ejected_until.load(Relaxed);
        !(ejected || self.unhealthy.load(Relaxed))
    }

    /// When it becomes available again, if it is ejected.
    pub(crate) fn back_at(&self) -> Option<u64> {
        self.ejected
            .load(Relaxed)
            .then(|| self.ejected_until.load(Relaxed))
    }

    /// The load estimate: peak-EWMA round trip × (calls in flight + 1).
    #[inline]
    pub(crate) fn cost(&self, now: u64) -> f64 {
        let in_flight = self.in_flight.load(Relaxed) as f64;
        self.load.estimate(now, self.common.policy.decay_ns) * (in_flight + 1.0)
    }

    /// Its share under slow start at `now`, 0 to 1.
    #[inline]
    pub(crate) fn share(&self, now: u64) -> f64 {
        let Some(window) = self.common.policy.slow_start_ns else {
            return 1.0;
        };
        let from = self.ramp_from.load(Relaxed);
        if from == 0 || now >= from.saturating_add(window) {
            return 1.0;
        }
        now.saturating_sub(from) as f64 / window as f64
    }

    /// A call is sent to it.
    #[inline]
    pub(crate) fn start(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        if let Some(telemetry) = self.telemetry() {
            telemetry.report(Event::Admitted);
        }
    }

    /// A call sent to it ended at `now` after `rtt` nanoseconds, judged
    /// `outcome`; an overloaded answer weighs as at least the penalty.
    pub(crate) fn finish(&self, now: u64, rtt: u64, outcome: Outcome, overloaded: bool) {
        self.in_flight.fetch_sub(1, Relaxed);
        let policy = &self.common.policy;
        if outcome != Outcome::Cancelled {
            let mut sample = rtt as f64;
            if overloaded {
                sample = sample.max(policy.overload_penalty_ns);
            }
            self.load.observe(now, sample, policy.decay_ns);
        }
        if let Some(telemetry) = self.telemetry() {
            telemetry.report(Event::Completed {
                outcome,
                duration: Duration::from_nanos(rtt),
            });
        }
        self.review(now);
    }

    fn set_phase(&self, to: Phase) {
        if let Some(from) = self.phase.set(to)
            && let Some(telemetry) = self.telemetry()
        {
            telemetry.report(Event::StateChanged {
                from: from.as_str(),
                to: to.as_str(),
            });
        }
    }

    /// Leaves the table: gives back its ejection slot.
    pub(crate) fn retire(&self) {
        if self.ejected.swap(false, AcqRel) {
            self.common.fleet.ejected.fetch_sub(1, AcqRel);
        }
    }

    /// Active health checks' verdict; returns whether it changed the
    /// endpoint's standing.
    pub(crate) fn checked(&self, healthy: bool, now: u64, up_after: u32, down_after: u32) -> bool {
        let unhealthy = self.unhealthy.load(Relaxed);
        if healthy != unhealthy {
            // Agrees with its standing.
            self.streak.store(0, Relaxed);
            return false;
        }
        let streak = self.streak.fetch_add(1, Relaxed) + 1;
        let needed = if healthy { up_after } else { down_after };
        if streak < needed {
            return false;
        }
        self.streak.store(0, Relaxed);
        self.unhealthy.store(!healthy, Relaxed);
        if healthy {
            self.ramp_from.store(now.max(1), Relaxed);
            self.set_phase(Phase::Closed);
        } else {
            self.set_phase(Phase::Open);
        }
        true
    }

    /// A snapshot for the handle.
    pub(crate) fn stats(&self, now: u64) -> EndpointStats
    where
        K: fmt::Display,
    {
        let state = if self.unhealthy.load(Relaxed) {
            EndpointState::Unhealthy
        } else if self.ejected.load(Relaxed) {
            EndpointState::Ejected
        } else if self.share(now) < 1.0 {
            EndpointState::SlowStart
        } else {
            EndpointState::Active
        };
        let until = self.ejected_until.load(Relaxed);
        EndpointStats {
            endpoint: self.key.to_string(),
            state,
            in_flight: self.in_flight.load(Relaxed),
            requests: self.requests.load(Relaxed),
            rtt_estimate: Duration::from_nanos(
                self.load.estimate(now, self.common.policy.decay_ns) as u64,
            ),
            ejections: self.ejections.load(Relaxed),
            ejected_for: (state == EndpointState::Ejected)
                .then(|| Duration::from_nanos(until.saturating_sub(now))),
            share: self.share(now),
        }
    }
}

/// Where an endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointState {
    /// In rotation with a full share.
    Active,
    /// In rotation, its share still ramping up (new or readmitted).
    SlowStart,
    /// Ejected by outlier detection (or, once its time is up, being
    /// readmitted by its probes).
    Ejected,
    /// Out of rotation by active health checks.
    Unhealthy,
}

impl EndpointState {
    /// A stable `snake_case` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointState::Active => "active",
            EndpointState::SlowStart => "slow_start",
            EndpointState::Ejected => "ejected",
            EndpointState::Unhealthy => "unhealthy",
        }
    }
}

/// One endpoint's state and figures, from
/// [`BalanceHandle::endpoints`](crate::BalanceHandle::endpoints).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The endpoint, as its key displays (`10.0.0.1:8080`).
    pub endpoint: String,
    /// Where it stands.
    pub state: EndpointState,
    /// Calls in flight to it now.
    pub in_flight: u64,
    /// Calls sent to it since it was added.
    pub requests: u64,
    /// Its peak-EWMA round-trip estimate now.
    pub rtt_estimate: Duration,
    /// How many times it was ejected.
    pub ejections: u64,
    /// How long its ejection still lasts (ejected only).
    pub ejected_for: Option<Duration>,
    /// Its slow-start share now, 0 to 1.
    pub share: f64,
}
