//! One layer's pre-resolved metric handles, and the event → metric map.

use std::sync::Mutex;

use buttress_core::telemetry::{
    Event, FallbackCause, GaugeKind, LayerId, LayerKind, LayerReporter, RetryCause,
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

/// The states a breaker reports, so its state gauge can show every state
/// at 0 but the current one from the start.
pub(crate) const BREAKER_STATES: [&str; 5] =
    ["closed", "open", "half_open", "forced_open", "disabled"];

/// Handles for one layer, resolved once when it registers, so reporting
/// an event only bumps an atomic.
pub(crate) struct LayerMetrics {
    id: LayerId,
    admitted: Counter,
    calls: [Counter; 4],
    duration: Histogram,
    rejections: [Counter; Reason::ALL.len()],
    retries: [Counter; RetryCause::ALL.len()],
    backoff: Histogram,
    budget_exhausted: Counter,
    queue_wait: Histogram,
    gauges: [Gauge; 5],
    fallback_failure: Counter,
    fallback_rejected: [Counter; Reason::ALL.len()],
    /// State gauges and transition counters, by state name. Resolved on a
    /// state change, which is rare; the lock is never taken per request.
    states: Mutex<Vec<(&'static str, Gauge)>>,
    transitions: Mutex<Vec<(&'static str, &'static str, Counter)>>,
    status: std::sync::Arc<LayerStatus>,
}

fn labels(id: &LayerId) -> Vec<Label> {
    vec![
        Label::new(LABEL_KIND, id.kind().as_str()),
        Label::new(LABEL_LAYER, id.name().to_owned()),
    ]
}

fn with(base: &[Label], key: &'static str, value: &'static str) -> Vec<Label> {
    let mut labels = base.to_vec();
    labels.push(Label::new(key, value));
    labels
}

fn gauge_index(kind: GaugeKind) -> Option<usize> {
    match kind {
        GaugeKind::Limit => Some(0),
        GaugeKind::InFlight => Some(1),
        GaugeKind::QueueDepth => Some(2),
        GaugeKind::MinRtt => Some(3),
        GaugeKind::Probability => Some(4),
        _ => None,
    }
}

impl LayerMetrics {
    pub(crate) fn new(id: &LayerId, status: std::sync::Arc<LayerStatus>) -> Self {
        let base = labels(id);
        let metrics = LayerMetrics {
            id: id.clone(),
            admitted: metrics::counter!(ADMITTED, base.clone()),
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!(CALLS, with(&base, LABEL_OUTCOME, outcome.as_str()))
            }),
            duration: metrics::histogram!(CALL_DURATION, base.clone()),
            rejections: Reason::ALL.map(|reason| {
                metrics::counter!(REJECTIONS, with(&base, LABEL_REASON, reason.as_str()))
            }),
            retries: RetryCause::ALL
                .map(|cause| metrics::counter!(RETRIES, with(&base, LABEL_CAUSE, cause.as_str()))),
            backoff: metrics::histogram!(RETRY_BACKOFF, base.clone()),
            budget_exhausted: metrics::counter!(RETRY_BUDGET_EXHAUSTED, base.clone()),
            queue_wait: metrics::histogram!(QUEUE_WAIT, base.clone()),
            gauges: [LIMIT, IN_FLIGHT, QUEUE_DEPTH, MIN_RTT, PROBABILITY]
                .map(|name| metrics::gauge!(name, base.clone())),
            fallback_failure: metrics::counter!(FALLBACKS, with(&base, LABEL_CAUSE, "failure")),
            fallback_rejected: Reason::ALL.map(|reason| {
                metrics::counter!(FALLBACKS, with(&base, LABEL_CAUSE, reason.as_str()))
            }),
            states: Mutex::new(Vec::new()),
            transitions: Mutex::new(Vec::new()),
            status,
        };
        if id.kind() == LayerKind::Breaker {
            // Resolve now, against the recorder in place at registration,
            // and show every state at 0 but the one a breaker starts in.
            for state in BREAKER_STATES {
                metrics
                    .state_gauge(state)
                    .set(if state == "closed" { 1.0 } else { 0.0 });
                for to in BREAKER_STATES.into_iter().filter(|to| *to != state) {
                    let _ = metrics.transition_counter(state, to);
                }
            }
            metrics.status.set_state("closed");
        }
        metrics
    }

    fn state_gauge(&self, state: &'static str) -> Gauge {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gauge)) = states.iter().find(|(name, _)| *name == state) {
            return gauge.clone();
        }
        let gauge = metrics::gauge!(BREAKER_STATE, with(&labels(&self.id), LABEL_STATE, state));
        states.push((state, gauge.clone()));
        gauge
    }

    fn transition_counter(&self, from: &'static str, to: &'static str) -> Counter {
        let mut transitions = self.transitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, counter)) = transitions.iter().find(|(f, t, _)| *f == from && *t == to) {
            return counter.clone();
        }
        let mut labels = labels(&self.id);
        labels.push(Label::new(LABEL_FROM, from));
        labels.push(Label::new(LABEL_TO, to));
        let counter = metrics::counter!(TRANSITIONS, labels);
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
        self.transition_counter(from, to).increment(1);
        let (kind, name) = (self.id.kind().as_str(), self.id.name());
        if matches!(to, "closed" | "disabled") {
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
    fn report(&self, event: Event) {
        match event {
            Event::Admitted => self.admitted.increment(1),
            Event::Rejected(reason) => {
                self.rejections[reason.index()].increment(1);
                tracing::debug!(
                    layer.kind = self.id.kind().as_str(),
                    layer = self.id.name(),
                    reason = reason.as_str(),
                    "buttress rejected a request"
                );
            }
            Event::Completed { outcome, duration } => {
                let index = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(1);
                self.calls[index].increment(1);
                // Zero means the layer did not time the call (a breaker
                // without slow-call tracking); a zero sample would drag the
                // histogram toward a latency nobody measured.
                if !duration.is_zero() {
                    self.duration.record(duration.as_secs_f64());
                }
            }
            Event::StateChanged { from, to } => self.state_changed(from, to),
            Event::State(state) => self.show_state(state),
            Event::Retry { backoff, cause, .. } => {
                self.retries[cause.index()].increment(1);
                self.backoff.record(backoff.as_secs_f64());
            }
            Event::Waited(wait) => self.queue_wait.record(wait.as_secs_f64()),
            Event::Gauge { kind, value } => {
                if let Some(index) = gauge_index(kind) {
                    self.gauges[index].set(value);
                    self.status.set_gauge(index, value);
                }
            }
            Event::FallbackServed(FallbackCause::Failure) => self.fallback_failure.increment(1),
            Event::FallbackServed(FallbackCause::Rejected(reason)) => {
                self.fallback_rejected[reason.index()].increment(1)
            }
            Event::BudgetExhausted => {
                self.budget_exhausted.increment(1);
                tracing::debug!(layer = self.id.name(), "buttress retry budget exhausted");
            }
            _ => {}
        }
    }
}
