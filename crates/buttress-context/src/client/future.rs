//! The [`ClientContext`](super::ClientContext) response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;

pin_project! {
    /// The inner call's future, or a refusal made before sending.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Called { #[pin] inner: F },
        Refused { rejected: Option<Rejected> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn called(inner: F) -> Self {
        ResponseFuture {
            state: State::Called { inner },
        }
    }

    pub(super) fn refused(rejected: Rejected) -> Self {
        ResponseFuture {
            state: State::Refused {
                rejected: Some(rejected),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Called { inner } => inner.poll(cx).map_err(Into::into),
            StateProjection::Refused { rejected } => {
                let rejected = rejected.take().expect("polled after completion");
                Poll::Ready(Err(rejected.into()))
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
