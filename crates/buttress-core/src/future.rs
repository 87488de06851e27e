//! [`OrRejected`]: the inner call's future, or a rejection ready at once.
//!
//! Most layers decide in `call` whether a request goes on: admitted, they
//! return the inner service's future; refused, an error that is ready on
//! the first poll. This one future is that choice for every layer, so the
//! admitted path stays the inner future plus a tag.
//!
//! [`Judged`] adds what layers that learn from outcomes (a breaker, a
//! throttle) do when an admitted call ends: judge its result with a
//! [`Classify`] and hand the verdict to a [`RecordOutcome`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::{BoxError, Classify, Outcome, Rejected};

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

/// What a layer does with the verdict on an admitted call when the call
/// ends: count it in a breaker's window, a throttle's ratio.
///
/// It is called at most once, and not at all for a call dropped before it
/// ended: a recorder that must count a cancellation does it in `Drop`.
pub trait RecordOutcome {
    /// Records the classifier's verdict on the call's result.
    fn record(self, outcome: Outcome);
}

pin_project! {
    /// [`OrRejected`] that, when an admitted call ends, judges its result
    /// with the classifier `C` and hands the verdict to the recorder `R`.
    ///
    /// ```
    /// use buttress_core::classify::AnyErrorFails;
    /// use buttress_core::future::{Judged, RecordOutcome};
    /// use buttress_core::Outcome;
    /// use std::sync::mpsc;
    ///
    /// struct Tally(mpsc::Sender<Outcome>);
    /// impl RecordOutcome for Tally {
    ///     fn record(self, outcome: Outcome) {
    ///         self.0.send(outcome).unwrap();
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = mpsc::channel();
    /// let call = async { Err::<(), _>(std::io::Error::other("refused")) };
    /// let judged = Judged::admitted(call, AnyErrorFails, Tally(tx));
    /// assert!(judged.await.is_err());
    /// assert_eq!(rx.recv().unwrap(), Outcome::Failure);
    /// # }
    /// ```
    pub struct Judged<F, C, R> {
        #[pin]
        inner: OrRejected<F>,
        // Taken when the call ends; a rejection has nothing to judge.
        judge: Option<(C, R)>,
    }
}

impl<F, C, R> Judged<F, C, R> {
    /// The inner call's future, judged by `classifier` when it ends, the
    /// verdict recorded by `recorder`.
    #[inline]
    pub fn admitted(future: F, classifier: C, recorder: R) -> Self {
        Judged {
            inner: OrRejected::admitted(future),
            judge: Some((classifier, recorder)),
        }
    }

    /// The inner call's future, not judged: a bypassed layer's (see
    /// [`Bypass`](crate::layer::Bypass)).
    #[inline]
    pub fn passthrough(future: F) -> Self {
        Judged {
            inner: OrRejected::admitted(future),
            judge: None,
        }
    }

    /// A rejection, ready on the first poll; nothing is judged.
    #[inline]
    pub fn rejected(rejected: Rejected) -> Self {
        Judged {
            inner: OrRejected::rejected(rejected),
            judge: None,
        }
    }

    /// Whether this is a refusal.
    pub fn is_rejected(&self) -> bool {
        self.inner.is_rejected()
    }
}

impl<F, C, R, T, E> Future for Judged<F, C, R>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T>,
    R: RecordOutcome,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some((classifier, recorder)) = this.judge.take() {
            let outcome = classifier.classify(
                result
                    .as_ref()
                    .map_err(|err| &**err as &(dyn Error + 'static)),
            );
            recorder.record(outcome);
        }
        Poll::Ready(result)
    }
}

impl<F, C, R> fmt::Debug for Judged<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Judged")
            .field("inner", &self.inner)
            .finish()
    }
}
