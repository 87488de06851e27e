//! The load shedder's response future.

use std::sync::Arc;

use buttress_core::Outcome;
use buttress_core::classify::AnyErrorFails;
use buttress_core::future::{Judged, RecordOutcome};
use tokio::time::Instant;

use super::shedder::Shedder;

/// An admitted call, counted in flight until dropped.
pub struct Admitted {
    shedder: Arc<Shedder>,
    admitted_at: Option<Instant>,
}

impl Admitted {
    pub(crate) fn new(shedder: Arc<Shedder>, admitted_at: Option<Instant>) -> Self {
        Admitted {
            shedder,
            admitted_at,
        }
    }

    /// The call finished (not cancelled): a timing signal learns from it.
    fn finish(self) {
        if let Some(admitted_at) = self.admitted_at {
            self.shedder.signal.finished(admitted_at, Instant::now());
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.shedder.release();
    }
}

/// The response future of a [`LoadShed`](super::LoadShed): the inner
/// call, counted in flight until it ends or is dropped (on completion,
/// error, panic or cancellation), or a shed request's rejection. The call
/// is not judged — any end is an end — so its classifier is the cheapest.
pub type ResponseFuture<F> = Judged<F, AnyErrorFails, Admitted>;

impl RecordOutcome for Admitted {
    /// The call ended (not cancelled: then only `Drop` runs).
    #[inline]
    fn record(self, _: Outcome) {
        self.finish();
    }
}
