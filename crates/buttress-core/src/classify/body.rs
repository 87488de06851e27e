//! A body that reports the final gRPC outcome when its trailers arrive.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::{GrpcClassifier, Outcome};

/// Calls `report` once, with `Cancelled` if it was never called by the end
/// of its life: a body dropped mid-stream means the caller gave up.
struct OnceReport<F: FnOnce(Outcome)> {
    report: Option<F>,
}

impl<F: FnOnce(Outcome)> OnceReport<F> {
    fn fire(&mut self, outcome: Outcome) {
        if let Some(report) = self.report.take() {
            report(outcome);
        }
    }
}

impl<F: FnOnce(Outcome)> Drop for OnceReport<F> {
    fn drop(&mut self) {
        self.fire(Outcome::Cancelled);
    }
}

pin_project! {
    /// Wraps a streamed gRPC response body and reports its final outcome —
    /// from `grpc-status` in the trailers — exactly once:
    ///
    /// - trailers arrive: judged by the [`GrpcClassifier`];
    /// - the stream ends without trailers, or with a body error: failure
    ///   (a missing status is a protocol error);
    /// - the body is dropped before its end: [`Outcome::Cancelled`].
    ///
    /// Layers that keep state until the verdict (a breaker's probe, an
    /// adaptive limit's sample) give it a closure that records the outcome.
    ///
    /// ```
    /// use buttress_core::classify::{GrpcClassifier, GrpcStatusBody, Outcome};
    /// use http_body_util::{BodyExt, Full};
    /// use std::sync::{Arc, Mutex};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut trailers = http::HeaderMap::new();
    /// trailers.insert("grpc-status", "14".parse().unwrap());
    /// let streamed = Full::new(bytes::Bytes::from_static(b"msg"))
    ///     .with_trailers(async move { Some(Ok(trailers)) });
    ///
    /// let seen = Arc::new(Mutex::new(None));
    /// let record = seen.clone();
    /// let body = GrpcStatusBody::new(streamed, GrpcClassifier::default(), move |outcome| {
    ///     *record.lock().unwrap() = Some(outcome);
    /// });
    /// body.collect().await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), Some(Outcome::Failure)); // UNAVAILABLE
    /// # }
    /// ```
    pub struct GrpcStatusBody<B, F>
    where
        F: FnOnce(Outcome),
    {
        #[pin]
        inner: B,
        classifier: GrpcClassifier,
        report: OnceReport<F>,
    }
}

impl<B, F: FnOnce(Outcome)> GrpcStatusBody<B, F> {
    /// Wraps `inner`; `report` receives the final outcome once.
    pub fn new(inner: B, classifier: GrpcClassifier, report: F) -> Self {
        GrpcStatusBody {
            inner,
            classifier,
            report: OnceReport {
                report: Some(report),
            },
        }
    }
}

impl<B, F> Body for GrpcStatusBody<B, F>
where
    B: Body,
    F: FnOnce(Outcome),
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.report
                        .fire(this.classifier.classify_trailers(Some(trailers)));
                }
            }
            Some(Err(_)) => this.report.fire(Outcome::Failure),
            None => this.report.fire(this.classifier.classify_trailers(None)),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug, F: FnOnce(Outcome)> fmt::Debug for GrpcStatusBody<B, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcStatusBody")
            .field("inner", &self.inner)
            .field("classifier", &self.classifier)
            .field("reported", &self.report.report.is_none())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<Outcome>>>;

    fn recorder() -> (Seen, impl FnOnce(Outcome)) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        (seen, move |outcome| record.lock().unwrap().push(outcome))
    }

    fn trailers(status: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", status.parse().unwrap());
        map
    }

    #[tokio::test]
    async fn trailers_decide_once() {
        for (status, expected) in [("0", Outcome::Success), ("13", Outcome::Failure)] {
            let (seen, report) = recorder();
            let t = trailers(status);
            let inner = Full::new(Bytes::from_static(b"x"))
                .with_trailers(async move { Some(Ok::<_, Infallible>(t)) });
            GrpcStatusBody::new(inner, GrpcClassifier::default(), report)
                .collect()
                .await
                .unwrap();
            assert_eq!(*seen.lock().unwrap(), vec![expected]);
        }
    }

    #[tokio::test]
    async fn end_without_trailers_fails() {
        let (seen, report) = recorder();
        GrpcStatusBody::new(
            Full::new(Bytes::from_static(b"x")),
            GrpcClassifier::default(),
            report,
        )
        .collect()
        .await
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![Outcome::Failure]);
    }

    #[tokio::test]
    async fn body_error_fails() {
        let (seen, report) = recorder();
        let inner = Full::new(Bytes::from_static(b"x")).map_err(|never: Infallible| match never {});
        let failing = inner.with_trailers(async { Some(Err::<HeaderMap, &str>("reset")) });
        let result = GrpcStatusBody::new(failing, GrpcClassifier::default(), report)
            .collect()
            .await;
        assert!(result.is_err());
        assert_eq!(*seen.lock().unwrap(), vec![Outcome::Failure]);
    }

    #[test]
    fn dropped_before_end_is_cancelled() {
        let (seen, report) = recorder();
        drop(GrpcStatusBody::new(
            Full::new(Bytes::from_static(b"x")),
            GrpcClassifier::default(),
            report,
        ));
        assert_eq!(*seen.lock().unwrap(), vec![Outcome::Cancelled]);
    }
}
