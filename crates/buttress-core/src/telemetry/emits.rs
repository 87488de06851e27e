//! What each kind of layer can report, so that a sink keeps the series a
//! layer can emit and no others.

use super::event::{GaugeKind, LayerKind};
use crate::Reason;

/// What the layers of one kind can report: the events, the reasons they
/// refuse for, the states they move between and the gauges they keep.
///
/// A sink reads it when a layer registers (see
/// [`LayerKind::emits`]): a metrics sink registers a counter for each
/// reason a bulkhead can refuse for, and none for the reasons only a
/// breaker refuses for, so that no series exists that its layer could
/// never move. A layer that reports something its kind's table lacks is
/// still counted (the sink resolves that series when it first happens);
/// the table only decides what exists, at zero, from the start.
///
/// ```
/// use buttress_core::Reason;
/// use buttress_core::telemetry::{GaugeKind, LayerKind};
///
/// let bulkhead = LayerKind::Bulkhead.emits();
/// assert_eq!(bulkhead.reasons, &[Reason::BulkheadFull, Reason::QueueTimeout]);
/// assert!(bulkhead.completed && !bulkhead.fallbacks);
/// assert!(LayerKind::Breaker.emits().gauges.is_empty());
/// assert_eq!(LayerKind::Throttle.emits().gauges, &[GaugeKind::Probability]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Emits {
    /// Reports admitted calls ([`Event::Admitted`](super::Event::Admitted)).
    pub admitted: bool,
    /// Reports calls ending, by outcome, and how long they took
    /// ([`Event::Completed`](super::Event::Completed)).
    pub completed: bool,
    /// The reasons it refuses calls for
    /// ([`Event::Rejected`](super::Event::Rejected)).
    pub reasons: &'static [Reason],
    /// The states it can be in ([`Event::StateChanged`](super::Event::StateChanged),
    /// [`Event::State`](super::Event::State)), the one it starts in first.
    pub states: &'static [&'static str],
    /// Reports retries, by cause, and their backoff
    /// ([`Event::Retry`](super::Event::Retry)).
    pub retries: bool,
    /// Reports retries a budget refused
    /// ([`Event::BudgetExhausted`](super::Event::BudgetExhausted)).
    pub budget: bool,
    /// Reports how long a call waited ([`Event::Waited`](super::Event::Waited)):
    /// in a queue, or — for fault injection — in an injected delay.
    pub waited: bool,
    /// The gauges it keeps ([`Event::Gauge`](super::Event::Gauge)).
    pub gauges: &'static [GaugeKind],
    /// Reports fallback answers, by cause
    /// ([`Event::FallbackServed`](super::Event::FallbackServed)).
    pub fallbacks: bool,
}

impl Emits {
    /// Reports nothing.
    const NOTHING: Emits = Emits {
        admitted: false,
        completed: false,
        reasons: &[],
        states: &[],
        retries: false,
        budget: false,
        waited: false,
        gauges: &[],
        fallbacks: false,
    };
}

/// A circuit breaker's states, as its `State::as_str` names them.
const BREAKER_STATES: &[&str] = &["closed", "open", "half_open", "forced_open", "disabled"];
/// Load shedding's levels: what the level sheds up to.
const SHED_LEVELS: &[&str] = &[
    "none",
    "sheddable",
    "sheddable_plus",
    "critical",
    "critical_plus",
];

const BREAKER: Emits = Emits {
    admitted: true,
    completed: true,
    reasons: &[Reason::CircuitOpen],
    states: BREAKER_STATES,
    ..Emits::NOTHING
};
const BULKHEAD: Emits = Emits {
    admitted: true,
    completed: true,
    reasons: &[Reason::BulkheadFull, Reason::QueueTimeout],
    waited: true,
    gauges: &[GaugeKind::InFlight, GaugeKind::QueueDepth],
    ..Emits::NOTHING
};
const ADAPTIVE_LIMIT: Emits = Emits {
    admitted: true,
    completed: true,
    reasons: &[Reason::Overloaded, Reason::QueueTimeout],
    waited: true,
    gauges: &[
        GaugeKind::Limit,
        GaugeKind::InFlight,
        GaugeKind::QueueDepth,
        GaugeKind::MinRtt,
    ],
    ..Emits::NOTHING
};
const SHED: Emits = Emits {
    admitted: true,
    reasons: &[Reason::Shed],
    states: SHED_LEVELS,
    gauges: &[GaugeKind::InFlight],
    ..Emits::NOTHING
};
const THROTTLE: Emits = Emits {
    admitted: true,
    reasons: &[Reason::Throttled],
    gauges: &[GaugeKind::Probability],
    ..Emits::NOTHING
};
const RATE_LIMIT: Emits = Emits {
    admitted: true,
    reasons: &[Reason::RateLimited],
    ..Emits::NOTHING
};
const RETRY: Emits = Emits {
    admitted: true,
    retries: true,
    budget: true,
    ..Emits::NOTHING
};
const TIMEOUT: Emits = Emits {
    reasons: &[Reason::Timeout, Reason::DeadlineExceeded],
    ..Emits::NOTHING
};
const FALLBACK: Emits = Emits {
    fallbacks: true,
    ..Emits::NOTHING
};
const CHAOS: Emits = Emits {
    reasons: &[Reason::FaultInjected],
    waited: true,
    ..Emits::NOTHING
};
/// A balanced endpoint's standing: in rotation, ejected, or being
/// readmitted by its probes.
const BALANCE_STATES: &[&str] = &["active", "ejected", "readmitting"];
const BALANCE: Emits = Emits {
    admitted: true,
    completed: true,
    reasons: &[Reason::NoEndpoint],
    states: BALANCE_STATES,
    ..Emits::NOTHING
};
const CONTEXT: Emits = Emits {
    reasons: &[Reason::DeadlineExceeded],
    ..Emits::NOTHING
};

impl LayerKind {
    /// Every kind.
    pub const ALL: [LayerKind; 14] = [
        LayerKind::Breaker,
        LayerKind::Bulkhead,
        LayerKind::AdaptiveLimit,
        LayerKind::Shed,
        LayerKind::Throttle,
        LayerKind::RateLimit,
        LayerKind::Retry,
        LayerKind::Timeout,
        LayerKind::Fallback,
        LayerKind::Chaos,
        LayerKind::Context,
        LayerKind::Edge,
        LayerKind::Red,
        LayerKind::Balance,
    ];

    /// What layers of this kind report through telemetry. The edge and
    /// the RED layer report nothing: the edge's answers are counted by
    /// the layers that refused, RED records its own metrics.
    pub const fn emits(self) -> &'static Emits {
        match self {
            LayerKind::Breaker => &BREAKER,
            LayerKind::Bulkhead => &BULKHEAD,
            LayerKind::AdaptiveLimit => &ADAPTIVE_LIMIT,
            LayerKind::Shed => &SHED,
            LayerKind::Throttle => &THROTTLE,
            LayerKind::RateLimit => &RATE_LIMIT,
            LayerKind::Retry => &RETRY,
            LayerKind::Timeout => &TIMEOUT,
            LayerKind::Fallback => &FALLBACK,
            LayerKind::Chaos => &CHAOS,
            LayerKind::Context => &CONTEXT,
            LayerKind::Balance => &BALANCE,
            LayerKind::Edge | LayerKind::Red => &Emits::NOTHING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_some_kinds_and_every_gauge_too() {
        for reason in Reason::ALL {
            assert!(
                LayerKind::ALL
                    .iter()
                    .any(|kind| kind.emits().reasons.contains(&reason)),
                "{reason:?} is no kind's"
            );
        }
        for gauge in [
            GaugeKind::Limit,
            GaugeKind::InFlight,
            GaugeKind::QueueDepth,
            GaugeKind::MinRtt,
            GaugeKind::Probability,
        ] {
            assert!(
                LayerKind::ALL
                    .iter()
                    .any(|kind| kind.emits().gauges.contains(&gauge))
            );
        }
    }
}
