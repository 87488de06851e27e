//! The throttle's response future: core's [`Judged`], recording into the
//! throttle's window.

use std::sync::Arc;

use buttress_core::Outcome;
use buttress_core::future::{Judged, RecordOutcome};

use super::throttler::Throttler;

/// The response future of a [`Throttle`](super::Throttle): the sent call,
/// judged by the classifier `C` when it ends (an accept, a refusal, or
/// neither for an inner layer's rejection), or a local rejection, ready at
/// once — core's [`Judged`]. A dropped call counts as neither.
pub type ResponseFuture<F, C> = Judged<F, C, Sent>;

/// What a sent call carries until it ends (the recorder of its
/// [`ResponseFuture`]): the throttle whose window counts it.
#[derive(Debug)]
pub struct Sent(pub(super) Arc<Throttler>);

impl RecordOutcome for Sent {
    #[inline]
    fn record(self, outcome: Outcome) {
        self.0.record(outcome);
    }
}
