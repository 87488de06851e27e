//! Judging an HTTP call when its response body ends, not when its head
//! arrives: [`JudgedToBodyEnd`] and [`JudgedBody`].
//!
//! A response whose head says 200 can still fail: its body errors or its
//! handler panics mid-stream, and the caller gets a truncated answer. A
//! layer that learns from outcomes and judges at the head counts that as
//! a success. These judge the head as [`Judged`](crate::future::Judged)
//! does and, when it succeeds, keep the recorder in the body until the
//! body ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::{Classify, GrpcClassifier, Outcome};
use crate::body::{BodyEnd, Watch, Watched};
use crate::future::{OrRejected, RecordOutcome};
use crate::grpc::GRPC_STATUS;
use crate::{BoxError, Rejected};

/// A response body that hands its call's verdict to a recorder when it
/// ends, for layers that judge at the body's end ([`JudgedToBodyEnd`]);
/// see [`Deferred`] for the verdicts.
pub type JudgedBody<B, R> = Watched<B, Deferred<R>>;

/// A recorder waiting for its call's body to end ([`JudgedBody`]):
///
/// - the stream ends (its last data frame, or trailers without a
///   `grpc-status`): success;
/// - trailers with a `grpc-status`: judged by the [`GrpcClassifier`];
/// - a body error: failure;
/// - dropped while a panic unwinds through it: failure;
/// - dropped before its end otherwise: success, as its head was (a body
///   the caller did not read to its end is not the dependency's fault).
pub struct Deferred<R: RecordOutcome> {
    recorder: Option<R>,
}

impl<R: RecordOutcome> Deferred<R> {
    /// A body judged at its end, its verdict going to `recorder` (a body
    /// whose head already decided carries none).
    #[inline]
    pub fn body<B>(inner: B, recorder: Option<R>) -> JudgedBody<B, R> {
        Watched::new(
            inner,
            recorder.map(|recorder| Deferred {
                recorder: Some(recorder),
            }),
        )
    }

    #[inline]
    fn fire(&mut self, outcome: Outcome) {
        if let Some(recorder) = self.recorder.take() {
            recorder.record(outcome);
        }
    }
}

impl<R: RecordOutcome> Watch for Deferred<R> {
    #[inline]
    fn end(&mut self, end: BodyEnd<'_>) {
        let outcome = match end {
            BodyEnd::Trailers(trailers) if trailers.contains_key(GRPC_STATUS) => {
                GrpcClassifier::new().classify_trailers(Some(trailers))
            }
            BodyEnd::Trailers(_) | BodyEnd::Complete => Outcome::Success,
            BodyEnd::Error => Outcome::Failure,
        };
        self.fire(outcome);
    }
}

impl<R: RecordOutcome> Drop for Deferred<R> {
    fn drop(&mut self) {
        let outcome = if std::thread::panicking() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        self.fire(outcome);
    }
}

impl<R: RecordOutcome> fmt::Debug for Deferred<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred")
            .field("pending", &self.recorder.is_some())
            .finish()
    }
}

pin_project! {
    /// [`Judged`](crate::future::Judged) for HTTP calls, to the end of
    /// the response body: when an admitted call's head arrives, the
    /// classifier `C` judges it; a failure (or an error) is recorded at
    /// once, a success only when the body ends — a body that errors or
    /// panics mid-stream turns it into a failure (see [`JudgedBody`]).
    ///
    /// ```
    /// use buttress_core::classify::{HttpClassifier, JudgedToBodyEnd};
    /// use buttress_core::future::RecordOutcome;
    /// use buttress_core::Outcome;
    /// use http_body_util::{BodyExt, Full};
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
    /// // A 200 whose body fails after its first chunk.
    /// let body = Full::new(bytes::Bytes::from_static(b"par"))
    ///     .map_err(|never| match never {})
    ///     .with_trailers(async { Some(Err::<http::HeaderMap, _>(std::io::Error::other("reset"))) });
    /// let call = async move { Ok::<_, std::io::Error>(http::Response::new(body)) };
    /// let judged = JudgedToBodyEnd::admitted(call, HttpClassifier::default(), Tally(tx));
    /// let response = judged.await.unwrap();
    /// assert!(rx.try_recv().is_err()); // not judged yet
    /// assert!(response.into_body().collect().await.is_err());
    /// assert_eq!(rx.recv().unwrap(), Outcome::Failure);
    /// # }
    /// ```
    pub struct JudgedToBodyEnd<F, C, R> {
        #[pin]
        inner: OrRejected<F>,
        judge: Option<(C, R)>,
    }
}

impl<F, C, R> JudgedToBodyEnd<F, C, R> {
    /// The inner call's future, judged by `classifier` (its head when it
    /// arrives, a successful head's body when it ends), the verdict
    /// recorded by `recorder`.
    #[inline]
    pub fn admitted(future: F, classifier: C, recorder: R) -> Self {
        JudgedToBodyEnd {
            inner: OrRejected::admitted(future),
            judge: Some((classifier, recorder)),
        }
    }

    /// A rejection, ready on the first poll; nothing is judged.
    #[inline]
    pub fn rejected(rejected: Rejected) -> Self {
        JudgedToBodyEnd {
            inner: OrRejected::rejected(rejected),
            judge: None,
        }
    }
}

impl<F, C, R, B, E> Future for JudgedToBodyEnd<F, C, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    C: Classify<Response<B>>,
    R: RecordOutcome,
{
    type Output = Result<Response<JudgedBody<B, R>>, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut deferred = None;
        if let Some((classifier, recorder)) = this.judge.take() {
            let outcome = classifier.classify(
                result
                    .as_ref()
                    .map_err(|err| &**err as &(dyn std::error::Error + 'static)),
            );
            if outcome == Outcome::Success && result.is_ok() {
                deferred = Some(recorder);
            } else {
                recorder.record(outcome);
            }
        }
        Poll::Ready(result.map(|response| response.map(|body| Deferred::body(body, deferred))))
    }
}

impl<F, C, R> fmt::Debug for JudgedToBodyEnd<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JudgedToBodyEnd")
            .field("inner", &self.inner)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;
    use http_body::{Body, Frame};
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<Outcome>>>);

    impl RecordOutcome for Seen {
        fn record(self, outcome: Outcome) {
            self.0.lock().unwrap().push(outcome);
        }
    }

    impl Seen {
        fn take(&self) -> Vec<Outcome> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    /// One chunk, then a panic.
    struct Exploding(bool);

    impl Body for Exploding {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if std::mem::replace(&mut self.0, true) {
                panic!("mid-stream");
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"part")))))
        }
    }

    #[tokio::test]
    async fn the_body_end_decides() {
        let seen = Seen::default();
        let whole = Deferred::body(Full::new(Bytes::from_static(b"x")), Some(seen.clone()));
        whole.collect().await.unwrap();
        assert_eq!(seen.take(), [Outcome::Success]);

        let failing = Full::new(Bytes::from_static(b"x"))
            .map_err(|never: Infallible| match never {})
            .with_trailers(async { Some(Err::<HeaderMap, &str>("reset")) });
        assert!(
            Deferred::body(failing, Some(seen.clone()))
                .collect()
                .await
                .is_err()
        );
        assert_eq!(seen.take(), [Outcome::Failure]);

        let mut trailers = HeaderMap::new();
        trailers.insert(GRPC_STATUS, "14".parse().unwrap());
        let grpc = Full::new(Bytes::from_static(b"x"))
            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
        Deferred::body(grpc, Some(seen.clone()))
            .collect()
            .await
            .unwrap();
        assert_eq!(seen.take(), [Outcome::Failure]);

        // Dropped unread: the head's success stands.
        drop(Deferred::body(
            Full::new(Bytes::from_static(b"x")),
            Some(seen.clone()),
        ));
        assert_eq!(seen.take(), [Outcome::Success]);
    }

    #[tokio::test]
    async fn a_body_that_panics_is_a_failure() {
        let seen = Seen::default();
        let recorder = seen.clone();
        let reading = tokio::spawn(async move {
            Deferred::body(Exploding(false), Some(recorder))
                .collect()
                .await
        });
        assert!(reading.await.unwrap_err().is_panic());
        assert_eq!(seen.take(), [Outcome::Failure]);
    }
}
