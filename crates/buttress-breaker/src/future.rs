//! The response future of [`CircuitBreaker`](crate::CircuitBreaker) and
//! [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use buttress_core::future::OrRejected;
use buttress_core::{BoxError, Classify, Rejected};
use pin_project_lite::pin_project;

use crate::track::Tracker;

pin_project! {
    /// The future of a call through a breaker: either the inner call,
    /// whose outcome it classifies and records when it ends, or a
    /// rejection, ready at once.
    ///
    /// Dropping it before it ends counts the call as cancelled — neither
    /// success nor failure — and gives back a half-open probe slot.
    pub struct ResponseFuture<F, C> {
        // Core's admitted-or-refused future; the breaker adds only what an
        // admitted call records when it ends.
        #[pin]
        inner: OrRejected<F>,
        record: Option<Record<C>>,
    }
}

/// What an admitted call judges and records its outcome with.
struct Record<C> {
    classifier: C,
    tracker: Tracker,
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, classifier: C, tracker: Tracker) -> Self {
        ResponseFuture {
            inner: OrRejected::admitted(future),
            record: Some(Record {
                classifier,
                tracker,
            }),
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            // The one allocation of the rejection path.
            inner: OrRejected::rejected(rejected),
            record: None,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(Record {
            classifier,
            tracker,
        }) = this.record
        {
            let outcome = classifier.classify(
                result
                    .as_ref()
                    .map_err(|err| &**err as &(dyn Error + 'static)),
            );
            tracker.finish(outcome);
        }
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish()
    }
}
