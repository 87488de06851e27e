//! The throttle's response future.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::classify::Classify;
use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;

use super::throttler::Throttler;

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Sent { #[pin] future: F, throttler: Option<Arc<Throttler>> },
        Throttled { rejected: Option<Rejected> },
    }
}

pin_project! {
    /// The response future of a [`Throttle`](super::Throttle): the sent
    /// call, judged by the classifier when it ends (an accept, a refusal,
    /// or neither for an inner layer's rejection); a dropped call counts
    /// as neither. Or a local rejection.
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F>,
        classifier: C,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn sent(future: F, throttler: Arc<Throttler>, classifier: C) -> Self {
        ResponseFuture {
            kind: Kind::Sent {
                future,
                throttler: Some(throttler),
            },
            classifier,
        }
    }

    pub(crate) fn throttled(rejected: Rejected, classifier: C) -> Self {
        ResponseFuture {
            kind: Kind::Throttled {
                rejected: Some(rejected),
            },
            classifier,
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
        match this.kind.project() {
            KindProj::Sent { future, throttler } => {
                let result = ready!(future.poll(cx)).map_err(Into::into);
                if let Some(throttler) = throttler.take() {
                    let outcome = match &result {
                        Ok(response) => this.classifier.classify(Ok(response)),
                        Err(err) => {
                            let err: &(dyn Error + 'static) = &**err;
                            this.classifier.classify(Err(err))
                        }
                    };
                    throttler.record(outcome);
                }
                Poll::Ready(result)
            }
            KindProj::Throttled { rejected } => {
                let rejected = rejected
                    .take()
                    .expect("response future polled after completion");
                Poll::Ready(Err(Box::new(rejected)))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("throttled", &matches!(self.kind, Kind::Throttled { .. }))
            .finish()
    }
}
