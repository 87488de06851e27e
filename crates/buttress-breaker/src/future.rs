//! The response future of [`CircuitBreaker`](crate::CircuitBreaker) and
//! [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

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
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            future: F,
            classifier: C,
            tracker: Tracker,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, classifier: C, tracker: Tracker) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                future,
                classifier,
                tracker,
            },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
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
        match self.project().kind.project() {
            KindProj::Called {
                future,
                classifier,
                tracker,
            } => {
                let result = ready!(future.poll(cx)).map_err(Into::into);
                let outcome = classifier.classify(
                    result
                        .as_ref()
                        .map_err(|err| &**err as &(dyn Error + 'static)),
                );
                tracker.finish(outcome);
                Poll::Ready(result)
            }
            KindProj::Rejected { rejected } => {
                let rejected = rejected
                    .take()
                    .expect("ResponseFuture polled after completion");
                // The one allocation of the rejection path.
                Poll::Ready(Err(Box::new(rejected)))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
