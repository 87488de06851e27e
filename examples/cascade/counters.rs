//! What the services and the telemetry sink saw, with the time they saw
//! it: the summary counts it per phase, the charts per half second.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use buttress::Reason;

use super::scenario::{PHASES, Phase};

/// What a Buttress layer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Refused a request.
    Rejected(Reason),
    /// Served a fallback answer.
    Fallback,
    /// Is in this state now (a breaker: `closed`, `open`, `half_open`; a
    /// shedder: the priority it sheds up to, `none` when it sheds none).
    State(&'static str),
}

/// One thing a layer did, when, and which layer (`kind/name`, as
/// `breaker/c`: the breaker of B's client stack for C).
#[derive(Debug, Clone)]
pub struct Mark {
    pub at: Duration,
    pub layer: Arc<str>,
    pub what: What,
}

/// A run's observations, from the scenario's start.
#[derive(Default)]
pub struct Counters {
    /// When each request reached B's handler.
    pub b_hits: Mutex<Vec<Duration>>,
    /// When each request reached C.
    pub c_hits: Mutex<Vec<Duration>>,
    /// What the Buttress layers did.
    pub marks: Mutex<Vec<Mark>>,
}

impl Counters {
    pub fn hit(list: &Mutex<Vec<Duration>>, at: Duration) {
        list.lock().unwrap().push(at);
    }

    pub fn mark(&self, mark: Mark) {
        self.marks.lock().unwrap().push(mark);
    }

    /// A copy of the layers' marks.
    pub fn marks(&self) -> Vec<Mark> {
        self.marks.lock().unwrap().clone()
    }

    /// How many of `list` fall in `from..to`.
    pub fn count(list: &Mutex<Vec<Duration>>, from: Duration, to: Duration) -> u64 {
        list.lock()
            .unwrap()
            .iter()
            .filter(|at| (from..to).contains(*at))
            .count() as u64
    }

    /// Rejections by layer and reason in `from..to`, most first.
    pub fn rejections(&self, from: Duration, to: Duration) -> Vec<(Arc<str>, Reason, u64)> {
        let mut out: Vec<(Arc<str>, Reason, u64)> = Vec::new();
        for mark in self.marks.lock().unwrap().iter() {
            let What::Rejected(reason) = mark.what else {
                continue;
            };
            if !(from..to).contains(&mark.at) {
                continue;
            }
            match out
                .iter_mut()
                .find(|(layer, r, _)| *r == reason && *layer == mark.layer)
            {
                Some(entry) => entry.2 += 1,
                None => out.push((mark.layer.clone(), reason, 1)),
            }
        }
        out.sort_by_key(|entry| std::cmp::Reverse(entry.2));
        out
    }

    /// Fallback answers served in `from..to`.
    pub fn fallbacks(&self, from: Duration, to: Duration) -> u64 {
        self.marks
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.what == What::Fallback && (from..to).contains(&m.at))
            .count() as u64
    }

    /// The state of `layer` at its last mark before `at`, if any.
    pub fn state_at(&self, layer: &str, at: Duration) -> Option<&'static str> {
        self.marks
            .lock()
            .unwrap()
            .iter()
            .filter(|m| &*m.layer == layer && m.at <= at)
            .filter_map(|m| match m.what {
                What::State(state) => Some(state),
                _ => None,
            })
            .next_back()
    }
}

/// The span of `phase`, for counting what happened in it; the last
/// phase keeps what straggles in after the scenario's end.
pub fn span(scenario: &super::Scenario, phase: Phase) -> (Duration, Duration) {
    let end = if phase.index() == PHASES - 1 {
        Duration::MAX
    } else {
        scenario.phase_end(phase)
    };
    (scenario.phase_start(phase), end)
}
