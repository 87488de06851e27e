//! The response future of [`CircuitBreaker`](crate::CircuitBreaker) and
//! [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker).

use buttress_core::Outcome;
use buttress_core::future::{Judged, RecordOutcome};

use crate::track::Tracker;

/// The future of a call through a breaker: either the inner call, whose
/// result the classifier `C` judges when it ends and the breaker records,
/// or a rejection, ready at once — core's [`Judged`].
///
/// Dropping it before it ends counts the call as cancelled — neither
/// success nor failure — and gives back a half-open probe slot.
pub type ResponseFuture<F, C> = Judged<F, C, Tracker>;

impl RecordOutcome for Tracker {
    #[inline]
    fn record(mut self, outcome: Outcome) {
        // Counted once: dropping the tracker afterwards records nothing more.
        self.finish(outcome);
    }
}
