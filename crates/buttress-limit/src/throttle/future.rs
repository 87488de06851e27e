//! The throttle's response future.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::classify::Classify;
use buttress_core::future::OrRejected;
use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;

use super::throttler::Throttler;

pin_project! {
    /// The response future of a [`Throttle`](super::Throttle): the sent
    /// call, judged by the classifier when it ends (an accept, a refusal,
    /// or neither for an inner layer's rejection); a dropped call counts
    /// as neither. Or a local rejection.
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: OrRejected<F>,
        // Set while a sent call is to be judged; a local rejection is not.
        judge: Option<(Arc<Throttler>, C)>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn sent(future: F, throttler: Arc<Throttler>, classifier: C) -> Self {
        ResponseFuture {
            inner: OrRejected::admitted(future),
            judge: Some((throttler, classifier)),
        }
    }

    pub(crate) fn throttled(rejected: Rejected) -> Self {
        ResponseFuture {
            inner: OrRejected::rejected(rejected),
            judge: None,
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
        if let Some((throttler, classifier)) = this.judge.take() {
            let outcome = match &result {
                Ok(response) => classifier.classify(Ok(response)),
                Err(err) => {
                    let err: &(dyn Error + 'static) = &**err;
                    classifier.classify(Err(err))
                }
            };
            throttler.record(outcome);
        }
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("throttled", &self.inner.is_rejected())
            .finish()
    }
}
