//! What an admitted call carries until it ends: which breaker, which
//! ticket, when it started — and the guarantee that it is counted once,
//! as cancelled if its future is dropped or panics first.

use std::sync::Arc;
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::keyed::KeyedEntry;
use buttress_core::telemetry::Event;

use crate::machine::{Clock, Ticket, Verdict};
use crate::shared::{Breaker, Lane};

/// The breaker a call belongs to, held so that it outlives the call.
pub(crate) enum Target {
    /// The single breaker, through this thread's lane.
    Lane(Arc<Lane>),
    /// A per-key breaker; holding the entry also keeps the map from
    /// evicting it while the call runs.
    Keyed(KeyedEntry<Breaker>),
}

impl Target {
    #[inline]
    fn breaker(&self) -> &Breaker {
        match self {
            Target::Lane(lane) => &lane.breaker,
            Target::Keyed(entry) => entry,
        }
    }
}

/// What a breaker's admitted call carries until it ends (the recorder of
/// its [`ResponseFuture`](crate::ResponseFuture)): counts the call once,
/// as cancelled if it is dropped first.
pub struct Tracker {
    target: Target,
    ticket: Ticket,
    lane: usize,
    /// Admission time in clock nanoseconds, when calls are timed.
    start: Option<u64>,
    done: bool,
}

impl Tracker {
    pub(crate) fn new(target: Target, ticket: Ticket, lane: usize, start: Option<u64>) -> Self {
        Tracker {
            target,
            ticket,
            lane,
            start,
            done: false,
        }
    }

    /// Counts the call's outcome, once.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let breaker = self.target.breaker();
        let policy = &breaker.policy;
        let clock = breaker.clock();
        let elapsed = self.start.map(|start| clock.now().saturating_sub(start));
        let slow = elapsed.is_some_and(|elapsed| policy.settings.is_slow(elapsed));
        let verdict = match outcome {
            Outcome::Success => Verdict::Success { slow },
            Outcome::Failure => Verdict::Failure { slow },
            Outcome::Ignored | Outcome::Cancelled => Verdict::Void,
        };
        policy.telemetry.report(Event::Completed {
            outcome,
            duration: Duration::from_nanos(elapsed.unwrap_or(0)),
        });
        let transition =
            breaker
                .machine
                .complete(&policy.settings, self.ticket, self.lane, verdict, &clock);
        if let Some(transition) = transition {
            breaker.announce(transition);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // A future dropped before its answer (the caller gave up, or the
        // inner future panicked): cancelled, which frees a probe slot and
        // blames no one.
        self.finish(Outcome::Cancelled);
    }
}
