//! One layer's metric handles, and the event → metric map.
//!
//! The counters and gauges a layer's kind can emit ([`LayerKind::emits`])
//! are registered when it registers — against the recorder in place then,
//! reading zero until they move, so that `rate()` and alerts work before
//! the first event — and nothing else is: no series exists that the layer
//! could never move. Histograms and transitions are registered at their
//! first sample (an empty histogram is a dozen lines of zeros), and so is
//! anything a layer reports beyond its kind's table, so it is never lost.

use std::sync::{Arc, Mutex, OnceLock};

use buttress_core::telemetry::{
    Describer, Event, FallbackCause, GaugeKind, LayerId, LayerKind, LayerReporter, NameClaim,
    RetryCause,
};
use buttress_core::{Outcome, Reason};
use metrics::{Counter, Gauge, Histogram, Label};

use crate::health::LayerStatus;
use crate::names::*;

const OUTCOMES: [Outcome; 4] = [
    Outcome::Success,
    Outcome::Failure,
    Outcome::Ignored,
    Outcome::Cancelled,
];

/// The gauges, in [`gauge_index`] order, with their metric names.
const GAUGES: [(GaugeKind, &str); 5] = [
    (GaugeKind::Limit, LIMIT),
    (GaugeKind::InFlight, IN_FLIGHT),
    (GaugeKind::QueueDepth, QUEUE_DEPTH),
    (GaugeKind::MinRtt, MIN_RTT),
    (GaugeKind::Probability, PROBABILITY),
];

fn gauge_index(kind: GaugeKind) -> Option<usize> {
    GAUGES.iter().position(|(k, _)| *k == kind)
}

/// A handle resolved once, eagerly or at first use.
type Lazy<T> = OnceLock<T>;

fn lazies<T, const N: usize>() -> [Lazy<T>; N] {
    std::array::from_fn(|_| OnceLock::new())
}

/// Handles for one layer. Reporting an event is an atomic load (the
/// handle, resolved) and an atomic bump.
pub(crate) struct LayerMetrics {
    /// The identity reported under: the layer's own, or a distinct one if
    /// a live layer of its kind already used its name.
    claim: NameClaim,
    base: [Label; 2],
    admitted: Lazy<Counter>,
    calls: [Lazy<Counter>; 4],
    duration: Lazy<Histogram>,
    rejections: [Lazy<Counter>; Reason::ALL.len()],
    retries: [Lazy<Counter>; RetryCause::ALL.len()],
    backoff: Lazy<Histogram>,
    budget_exhausted: Lazy<Counter>,
    /// Hedges sent, won, and losers cancelled (a hedging retry only:
    /// registered with the first hedge, never for a layer that retries).
    hedges: [Lazy<Counter>; 3],
    waited: Lazy<Histogram>,
    gauges: [Lazy<Gauge>; GAUGES.len()],
    fallback_failure: Lazy<Counter>,
    fallback_rejected: [Lazy<Counter>; Reason::ALL.len()],
    /// State gauges and transition counters, by state name. Resolved on a
    /// state change, which is rare; the lock is never taken per request.
    states: Mutex<Vec<(&'static str, Gauge)>>,
    transitions: Mutex<Vec<(&'static str, &'static str, Counter)>>,
    status: Arc<LayerStatus>,
}

impl LayerMetrics {
    /// Handles for the layer that `claim` names, its status kept in
    /// `status`; registers what its kind can emit.
    pub(crate) fn new(claim: NameClaim, status: Arc<LayerStatus>) -> Self {
        let id = claim.id();
        let base = [
            Label::new(LABEL_KIND, id.kind().as_str()),
            Label::new(LABEL_LAYER, id.name().to_owned()),
        ];
        let metrics = LayerMetrics {
            claim,
            base,
            admitted: OnceLock::new(),
            calls: lazies(),
            duration: OnceLock::new(),
            rejections: lazies(),
            retries: lazies(),
            backoff: OnceLock::new(),
            budget_exhausted: OnceLock::new(),
            hedges: lazies(),
            waited: OnceLock::new(),
            gauges: lazies(),
            fallback_failure: OnceLock::new(),
            fallback_rejected: lazies(),
            states: Mutex::new(Vec::new()),
            transitions: Mutex::new(Vec::new()),
            status,
        };
        metrics.register_what_the_kind_emits();
        metrics
    }

    fn id(&self) -> &LayerId {
        self.claim.id()
    }

    fn register_what_the_kind_emits(&self) {
        let emits = self.id().kind().emits();
        if emits.admitted {
            self.admitted();
        }
        if emits.completed {
            for index in 0..OUTCOMES.len() {
                self.calls(index);
            }
        }
        for reason in emits.reasons {
            self.rejections(*reason);
        }
        if emits.retries {
            for cause in RetryCause::ALL {
                self.retries(cause);
            }
        }
        if emits.budget {
            self.budget_exhausted();
        }
        for kind in emits.gauges {
            if let Some(index) = gauge_index(*kind) {
                self.gauge(index);
            }
        }
        if emits.fallbacks {
            self.fallbacks(FallbackCause::Failure);
            for reason in Reason::ALL {
                self.fallbacks(FallbackCause::Rejected(reason));
            }
        }
        // Every state, the first (the one a layer starts in) current.
        if let Some((first, _)) = emits.states.split_first() {
            for state in emits.states {
                self.state_gauge(state)
                    .set(if state == first { 1.0 } else { 0.0 });
            }
            self.status.set_state(first);
        }
    }

    fn labels(&self, extra: &[(&'static str, &'static str)]) -> Vec<Label> {
        let mut labels = self.base.to_vec();
        labels.extend(extra.iter().map(|(key, value)| Label::new(*key, *value)));
        labels
    }

    fn admitted(&self) -> &Counter {
        self.admitted
            .get_or_init(|| metrics::counter!(ADMITTED, self.labels(&[])))
    }

    fn calls(&self, index: usize) -> &Counter {
        self.calls[index].get_or_init(|| {
            let outcome = OUTCOMES[index].as_str();
            metrics::counter!(CALLS, self.labels(&[(LABEL_OUTCOME, outcome)]))
        })
    }

    fn rejections(&self, reason: Reason) -> &Counter {
        self.rejections[reason.index()].get_or_init(|| {
            metrics::counter!(REJECTIONS, self.labels(&[(LABEL_REASON, reason.as_str())]))
        })
    }

    fn retries(&self, cause: RetryCause) -> &Counter {
        self.retries[cause.index()].get_or_init(|| {
            metrics::counter!(RETRIES, self.labels(&[(LABEL_CAUSE, cause.as_str())]))
        })
    }

    fn budget_exhausted(&self) -> &Counter {
        self.budget_exhausted
            .get_or_init(|| metrics::counter!(RETRY_BUDGET_EXHAUSTED, self.labels(&[])))
    }

    fn hedge(&self, index: usize) -> &Counter {
        const NAMES: [&str; 3] = [HEDGES, HEDGE_WINS, HEDGE_CANCELLED];
        self.hedges[index].get_or_init(|| metrics::counter!(NAMES[index], self.labels(&[])))
    }

    fn gauge(&self, index: usize) -> &Gauge {
        self.gauges[index].get_or_init(|| metrics::gauge!(GAUGES[index].1, self.labels(&[])))
    }

    fn fallbacks(&self, cause: FallbackCause) -> &Counter {
        let (slot, label) = match cause {
            FallbackCause::Failure => (&self.fallback_failure, "failure"),
            FallbackCause::Rejected(reason) => {
                (&self.fallback_rejected[reason.index()], reason.as_str())
            }
        };
        slot.get_or_init(|| metrics::counter!(FALLBACKS, self.labels(&[(LABEL_CAUSE, label)])))
    }

    fn histogram<'a>(&self, slot: &'a Lazy<Histogram>, name: &'static str) -> &'a Histogram {
        slot.get_or_init(|| metrics::histogram!(name, self.labels(&[])))
    }

    fn state_gauge(&self, state: &'static str) -> Gauge {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gauge)) = states.iter().find(|(name, _)| *name == state) {
            return gauge.clone();
        }
        let gauge = metrics::gauge!(STATE, self.labels(&[(LABEL_STATE, state)]));
        states.push((state, gauge.clone()));
        gauge
    }

    fn transition_counter(&self, from: &'static str, to: &'static str) -> Counter {
        let mut transitions = self.transitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, counter)) = transitions.iter().find(|(f, t, _)| *f == from && *t == to) {
            return counter.clone();
        }
        let counter = metrics::counter!(
            TRANSITIONS,
            self.labels(&[(LABEL_FROM, from), (LABEL_TO, to)])
        );
        transitions.push((from, to, counter.clone()));
        counter
    }

    /// Shows `state` as the current one: 1 for it, 0 for every other
    /// state seen, under one lock so that two changes racing each other
    /// cannot leave two states at 1. Absolute rather than `from` → 0,
    /// `to` → 1, which a change reported out of order, or a sink that
    /// bound late and never heard the state a layer left, would turn into
    /// two states at 1.
    fn show_state(&self, state: &'static str) {
        let gauge = self.state_gauge(state);
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        for (name, other) in states.iter() {
            if *name != state {
                other.set(0.0);
            }
        }
        gauge.set(1.0);
        self.status.set_state(state);
    }

    fn state_changed(&self, from: &'static str, to: &'static str) {
        self.show_state(to);
        self.status.changed(from, to);
        self.transition_counter(from, to).increment(1);
        let (kind, name) = (self.id().kind().as_str(), self.id().name());
        if matches!(to, "closed" | "disabled" | "none") {
            tracing::info!(
                layer.kind = kind,
                layer = name,
                from,
                to,
                "buttress state change"
            );
        } else {
            tracing::warn!(
                layer.kind = kind,
                layer = name,
                from,
                to,
                "buttress state change"
            );
        }
    }
}

impl LayerReporter for LayerMetrics {
    fn describe(&self, settings: Describer) {
        self.status.describe(settings);
    }

    fn report(&self, event: Event) {
        match event {
            Event::Admitted => self.admitted().increment(1),
            Event::Rejected(reason) => {
                self.rejections(reason).increment(1);
                self.status.rejected(reason);
                tracing::debug!(
                    layer.kind = self.id().kind().as_str(),
                    layer = self.id().name(),
                    reason = reason.as_str(),
                    "buttress rejected a request"
                );
            }
            Event::Completed { outcome, duration } => {
                let index = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(1);
                self.calls(index).increment(1);
                // Zero means the layer did not time the call (a breaker
                // without slow-call tracking); a zero sample would drag the
                // histogram toward a latency nobody measured.
                if !duration.is_zero() {
                    self.histogram(&self.duration, CALL_DURATION)
                        .record(duration.as_secs_f64());
                }
            }
            Event::StateChanged { from, to } => self.state_changed(from, to),
            Event::State(state) => self.show_state(state),
            Event::Retry { backoff, cause, .. } => {
                self.retries(cause).increment(1);
                self.histogram(&self.backoff, RETRY_BACKOFF)
                    .record(backoff.as_secs_f64());
            }
            Event::Waited(wait) => {
                // A fault-injection layer's wait is the delay it injected,
                // not a queue.
                let name = match self.id().kind() {
                    LayerKind::Chaos => CHAOS_DELAY,
                    _ => QUEUE_WAIT,
                };
                self.histogram(&self.waited, name)
                    .record(wait.as_secs_f64());
            }
            Event::Gauge { kind, value } => {
                if let Some(index) = gauge_index(kind) {
                    self.gauge(index).set(value);
                    self.status.set_gauge(index, value);
                }
            }
            Event::FallbackServed(cause) => self.fallbacks(cause).increment(1),
            Event::BudgetExhausted => {
                self.budget_exhausted().increment(1);
                tracing::debug!(layer = self.id().name(), "buttress retry budget exhausted");
            }
            Event::HedgeSent { .. } => self.hedge(0).increment(1),
            Event::HedgeSettled {
                won_by_hedge,
                cancelled,
            } => {
                if won_by_hedge {
                    self.hedge(1).increment(1);
                }
                if cancelled > 0 {
                    self.hedge(2).increment(u64::from(cancelled));
                }
            }
            _ => {}
        }
    }
}
