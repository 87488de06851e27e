//! [`OrRejected`]: the inner call's future, or a rejection ready at once.
//!
//! Most layers decide in `call` whether a request goes on: admitted, they
//! return the inner service's future; refused, an error that is ready on
//! the first poll. This one future is that choice for every layer, so the
//! admitted path stays the inner future plus a tag.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::{BoxError, Rejected};

pin_project! {
    /// The inner call's future when admitted, a ready rejection when not.
    ///
    /// ```
    /// use buttress_core::future::OrRejected;
    /// use buttress_core::{Reason, Rejected};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let admitted = OrRejected::admitted(async { Ok::<_, std::io::Error>(7) });
    /// assert_eq!(admitted.await.unwrap(), 7);
    ///
    /// let refused = OrRejected::<std::future::Ready<Result<u8, std::io::Error>>>::rejected(
    ///     Rejected::new(Reason::RateLimited),
    /// );
    /// let err = refused.await.unwrap_err();
    /// assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::RateLimited);
    /// # }
    /// ```
    pub struct OrRejected<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Admitted { #[pin] future: F },
        // Boxed when refused, so the rejection becomes the `BoxError`
        // without a second allocation, and the admitted future stays small.
        Rejected { rejected: Option<Box<Rejected>> },
    }
}

impl<F> OrRejected<F> {
    /// The inner call's future.
    #[inline]
    pub fn admitted(future: F) -> Self {
        OrRejected {
            state: State::Admitted { future },
        }
    }

    /// A rejection, ready on the first poll.
    #[inline]
    pub fn rejected(rejected: Rejected) -> Self {
        Self::rejected_boxed(Box::new(rejected))
    }

    /// A rejection already boxed, ready on the first poll.
    #[inline]
    pub fn rejected_boxed(rejected: Box<Rejected>) -> Self {
        OrRejected {
            state: State::Rejected {
                rejected: Some(rejected),
            },
        }
    }

    /// Whether this is a refusal.
    pub fn is_rejected(&self) -> bool {
        matches!(self.state, State::Rejected { .. })
    }
}

impl<F, T, E> Future for OrRejected<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Admitted { future } => future.poll(cx).map_err(Into::into),
            StateProjection::Rejected { rejected } => {
                let rejected = rejected.take().expect("OrRejected polled after completion");
                Poll::Ready(Err(rejected))
            }
        }
    }
}

impl<F> fmt::Debug for OrRejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_rejected() {
            "rejected"
        } else {
            "admitted"
        };
        f.debug_struct("OrRejected").field("state", &state).finish()
    }
}
