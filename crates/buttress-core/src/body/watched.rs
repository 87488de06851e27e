//! [`Watched`]: a body that tells a [`Watch`] how it ends.
//!
//! Several layers keep something alive until a response body is done: a
//! bulkhead's permit, a breaker's verdict, a metrics record. Each needs the
//! same few facts — the last frame, trailers, an error, or the body dropped
//! early — so the frame-by-frame bookkeeping lives here, once, and a layer
//! writes only what it does with the end.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// How a watched body ended.
#[derive(Debug, Clone, Copy)]
pub enum BodyEnd<'a> {
    /// Its last data frame was read (or it was empty): no trailers.
    Complete,
    /// Its trailers arrived (they are always the last frame).
    Trailers(&'a HeaderMap),
    /// It failed with an error.
    Error,
}

/// What a [`Watched`] body tells: how it ended, once. The watcher is dropped right after [`end`](Self::end),
/// or with the body when it is dropped before its end — so what must
/// happen either way (giving a permit back, recording a metric) belongs in
/// the watcher's `Drop`, and `end` only refines the verdict.
pub trait Watch {
    /// The body ended, as `end` says. Called at most once.
    fn end(&mut self, end: BodyEnd<'_>);
}

pin_project! {
    /// A response body passed through untouched, with a [`Watch`] told how
    /// it ends: its last data frame, its trailers, an error — or nothing,
    /// when it is dropped first (the watcher is then simply dropped).
    ///
    /// ```
    /// use buttress_core::body::{BodyEnd, Watch, Watched};
    /// use http_body_util::{BodyExt, Full};
    /// use std::sync::{Arc, Mutex};
    ///
    /// struct Ended(Arc<Mutex<Option<&'static str>>>);
    /// impl Watch for Ended {
    ///     fn end(&mut self, end: BodyEnd<'_>) {
    ///         *self.0.lock().unwrap() = Some(match end {
    ///             BodyEnd::Complete => "complete",
    ///             BodyEnd::Trailers(_) => "trailers",
    ///             BodyEnd::Error => "error",
    ///         });
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(Mutex::new(None));
    /// let body = Watched::new(Full::new(bytes::Bytes::from("hi")), Some(Ended(seen.clone())));
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "hi");
    /// assert_eq!(*seen.lock().unwrap(), Some("complete"));
    /// # }
    /// ```
    pub struct Watched<B, W> {
        #[pin]
        inner: B,
        watch: Option<W>,
    }
}

impl<B, W> Watched<B, W> {
    /// Wraps `inner`; `watch`, when given, is told how it ends.
    #[inline]
    pub fn new(inner: B, watch: Option<W>) -> Self {
        Watched { inner, watch }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Whether the watcher is still waiting for the end.
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// Unwraps the body, dropping the watcher now (as if the body were
    /// dropped before its end).
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body, W: Watch> Body for Watched<B, W> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(watch) = this.watch.as_mut() {
            let end = match &frame {
                Some(Ok(frame)) => match frame.trailers_ref() {
                    Some(trailers) => Some(BodyEnd::Trailers(trailers)),
                    None => this.inner.is_end_stream().then_some(BodyEnd::Complete),
                },
                Some(Err(_)) => Some(BodyEnd::Error),
                None => Some(BodyEnd::Complete),
            };
            if let Some(end) = end {
                watch.end(end);
                *this.watch = None;
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug, W> fmt::Debug for Watched<B, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("inner", &self.inner)
            .field("watching", &self.watch.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Watch for Log {
        fn end(&mut self, end: BodyEnd<'_>) {
            let end = match end {
                BodyEnd::Complete => "complete".to_owned(),
                BodyEnd::Trailers(t) => format!("trailers {}", t.len()),
                BodyEnd::Error => "error".to_owned(),
            };
            self.0.lock().unwrap().push(end);
        }
    }

    impl Log {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    #[tokio::test]
    async fn every_end_is_told_once() {
        let log = Log::default();
        let body = Watched::new(Full::new(Bytes::from_static(b"x")), Some(log.clone()));
        body.collect().await.unwrap();
        assert_eq!(log.take(), ["complete"]);

        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let body = Full::new(Bytes::from_static(b"x"))
            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
        Watched::new(body, Some(log.clone()))
            .collect()
            .await
            .unwrap();
        assert_eq!(log.take(), ["trailers 1"]);

        let failing = Full::new(Bytes::from_static(b"x"))
            .map_err(|never: Infallible| match never {})
            .with_trailers(async { Some(Err::<HeaderMap, &str>("reset")) });
        assert!(
            Watched::new(failing, Some(log.clone()))
                .collect()
                .await
                .is_err()
        );
        assert_eq!(log.take(), ["error"]);

        let empty = http_body_util::Empty::<Bytes>::new();
        Watched::new(empty, Some(log.clone()))
            .collect()
            .await
            .unwrap();
        assert_eq!(log.take(), ["complete"]);

        // Dropped unread: nothing is told; the watcher is dropped.
        drop(Watched::new(
            Full::new(Bytes::from_static(b"x")),
            Some(log.clone()),
        ));
        assert!(log.take().is_empty());
    }
}
