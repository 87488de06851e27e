//! The load shedder's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::future::OrRejected;
use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::shedder::Shedder;

/// An admitted call, counted in flight until dropped.
pub(crate) struct Admitted {
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

pin_project! {
    /// The response future of a [`LoadShed`](super::LoadShed): the inner
    /// call, counted in flight until it ends or is dropped (on completion,
    /// error, panic or cancellation), or a shed request's rejection.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: OrRejected<F>,
        // After `inner`: the inner future is dropped before it is counted out.
        admitted: Option<Admitted>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn running(future: F, admitted: Admitted) -> Self {
        ResponseFuture {
            inner: OrRejected::admitted(future),
            admitted: Some(admitted),
        }
    }

    pub(crate) fn shed(rejected: Rejected) -> Self {
        ResponseFuture {
            inner: OrRejected::rejected(rejected),
            admitted: None,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(admitted) = this.admitted.take() {
            admitted.finish();
        }
        Poll::Ready(result)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("shed", &self.inner.is_rejected())
            .field("in_flight", &self.admitted.is_some())
            .finish()
    }
}
