//! The rate limit's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::{BoxError, Rejected};
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of a [`RateLimit`](super::RateLimit): the inner
    /// call's future when admitted, a ready rejection when not.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Admitted { #[pin] future: F },
        // Boxed when refused, so the rejection becomes the `BoxError`
        // without a second allocation, and the admitted future stays small.
        Limited { rejected: Option<Box<Rejected>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn admitted(future: F) -> Self {
        ResponseFuture {
            state: State::Admitted { future },
        }
    }

    pub(crate) fn limited(rejected: Box<Rejected>) -> Self {
        ResponseFuture {
            state: State::Limited {
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

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted { future } => future.poll(cx).map_err(Into::into),
            StateProj::Limited { rejected } => {
                let rejected = rejected
                    .take()
                    .expect("a rate-limit ResponseFuture polled after completion");
                Poll::Ready(Err(rejected))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Admitted { .. } => "admitted",
            State::Limited { .. } => "limited",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
