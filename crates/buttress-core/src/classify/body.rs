//! Reporting a streamed gRPC call's final outcome when its trailers arrive:
//! [`GrpcStatusWatch`], a [`Watch`] for [`Watched`] bodies.

use std::fmt;

use super::{GrpcClassifier, Outcome};
use crate::body::{BodyEnd, Watch, Watched};

/// A streamed gRPC response body that reports its final outcome once (see
/// [`GrpcStatusWatch`]).
pub type GrpcStatusBody<B, F> = Watched<B, GrpcStatusWatch<F>>;

/// Reports a streamed gRPC response's final outcome — from `grpc-status`
/// in its trailers — exactly once, watching its body ([`Watched`]):
///
/// - trailers arrive: judged by the [`GrpcClassifier`];
/// - the stream ends without trailers, or with a body error: failure (a
///   missing status is a protocol error);
/// - the body is dropped before its end: [`Outcome::Cancelled`].
///
/// Layers that keep state until the verdict (a breaker's probe, an
/// adaptive limit's sample) give it a closure that records the outcome.
///
/// ```
/// use buttress_core::body::Watched;
/// use buttress_core::classify::{GrpcClassifier, GrpcStatusWatch, Outcome};
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
/// let watch = GrpcStatusWatch::new(GrpcClassifier::default(), move |outcome| {
///     *record.lock().unwrap() = Some(outcome);
/// });
/// Watched::new(streamed, Some(watch)).collect().await.unwrap();
/// assert_eq!(*seen.lock().unwrap(), Some(Outcome::Failure)); // UNAVAILABLE
/// # }
/// ```
pub struct GrpcStatusWatch<F: FnOnce(Outcome)> {
    classifier: GrpcClassifier,
    report: Option<F>,
}

impl<F: FnOnce(Outcome)> GrpcStatusWatch<F> {
    /// Judges the trailers with `classifier`; `report` receives the final
    /// outcome once.
    pub fn new(classifier: GrpcClassifier, report: F) -> Self {
        GrpcStatusWatch {
            classifier,
            report: Some(report),
        }
    }

    fn fire(&mut self, outcome: Outcome) {
        if let Some(report) = self.report.take() {
            report(outcome);
        }
    }
}

impl<F: FnOnce(Outcome)> Watch for GrpcStatusWatch<F> {
    fn end(&mut self, end: BodyEnd<'_>) {
        let outcome = match end {
            BodyEnd::Trailers(trailers) => self.classifier.classify_trailers(Some(trailers)),
            BodyEnd::Complete => self.classifier.classify_trailers(None),
            BodyEnd::Error => Outcome::Failure,
        };
        self.fire(outcome);
    }
}

impl<F: FnOnce(Outcome)> Drop for GrpcStatusWatch<F> {
    /// Never told an end: the caller gave up on the body.
    fn drop(&mut self) {
        self.fire(Outcome::Cancelled);
    }
}

impl<F: FnOnce(Outcome)> fmt::Debug for GrpcStatusWatch<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcStatusWatch")
            .field("classifier", &self.classifier)
            .field("reported", &self.report.is_none())
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

    fn watched<B>(
        inner: B,
        report: impl FnOnce(Outcome),
    ) -> GrpcStatusBody<B, impl FnOnce(Outcome)> {
        Watched::new(
            inner,
            Some(GrpcStatusWatch::new(GrpcClassifier::default(), report)),
        )
    }

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
            watched(inner, report).collect().await.unwrap();
            assert_eq!(*seen.lock().unwrap(), vec![expected]);
        }
    }

    #[tokio::test]
    async fn end_without_trailers_fails() {
        let (seen, report) = recorder();
        watched(Full::new(Bytes::from_static(b"x")), report)
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
        let result = watched(failing, report).collect().await;
        assert!(result.is_err());
        assert_eq!(*seen.lock().unwrap(), vec![Outcome::Failure]);
    }

    #[test]
    fn dropped_before_end_is_cancelled() {
        let (seen, report) = recorder();
        drop(watched(Full::new(Bytes::from_static(b"x")), report));
        assert_eq!(*seen.lock().unwrap(), vec![Outcome::Cancelled]);
    }
}
