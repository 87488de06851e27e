//! [`EdgeBody`]: the inner service's body, or the edge's own short one.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::body::LocalOrInner;
use buttress_core::grpc::GRPC_STATUS;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of an [`Edge`](super::Edge): the inner service's
    /// body, passed through without boxing, or the short body of an answer
    /// the edge wrote itself (a rejection, an error or a panic answer),
    /// which [`is_local`](Self::is_local) tells apart.
    ///
    /// A panic while the inner body streams is caught here, as a panic in
    /// the handler is: the connection task goes on, the inner body is
    /// dropped and never polled again, and the stream ends as a failure
    /// every layer outside can see — a gRPC answer with `INTERNAL` trailers,
    /// an HTTP answer with a body error (the client sees the response cut
    /// short: hyper resets the stream or closes the connection rather than
    /// ending the body as if it were whole).
    pub struct EdgeBody<B> {
        #[pin]
        body: LocalOrInner<B>,
        grpc: bool,
    }
}

impl<B> EdgeBody<B> {
    /// The inner service's body, answering a gRPC request when `grpc`.
    #[inline]
    pub(super) fn inner(body: B, grpc: bool) -> Self {
        EdgeBody {
            body: LocalOrInner::inner(body),
            grpc,
        }
    }

    /// A body of one chunk the edge wrote.
    pub(super) fn local(chunk: Bytes) -> Self {
        EdgeBody {
            body: LocalOrInner::local(chunk),
            grpc: false,
        }
    }

    /// An empty body the edge wrote.
    pub(super) fn empty() -> Self {
        EdgeBody {
            body: LocalOrInner::empty(),
            grpc: false,
        }
    }

    /// Whether the edge wrote this body itself.
    pub fn is_local(&self) -> bool {
        self.body.is_local()
    }
}

/// The trailers that end a gRPC stream whose body panicked.
fn internal_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    trailers.insert(GRPC_STATUS, HeaderValue::from_static("13"));
    trailers.insert(
        "grpc-message",
        HeaderValue::from_static("response body panicked"),
    );
    trailers
}

impl<B> Body for EdgeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match catch_unwind(AssertUnwindSafe(|| this.body.as_mut().poll_frame(cx))) {
            Ok(frame) => frame,
            Err(payload) => {
                let message = super::answer::panic_message(&*payload);
                tracing::error!(panic = message, "response body panicked");
                if *this.grpc {
                    // End the stream with a status the client reads.
                    this.body.set(LocalOrInner::local_with_trailers(
                        Bytes::new(),
                        Some(internal_trailers()),
                    ));
                    this.body.poll_frame(cx)
                } else {
                    this.body.set(LocalOrInner::empty());
                    let error: BoxError = format!("response body panicked: {message}").into();
                    Poll::Ready(Some(Err(error)))
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B> fmt::Debug for EdgeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeBody")
            .field("local", &self.is_local())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// One chunk, then a panic.
    struct Exploding(bool);

    impl Body for Exploding {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                panic!("mid-stream");
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"part")))))
        }
    }

    #[tokio::test]
    async fn a_panic_mid_stream_ends_an_http_body_with_an_error() {
        let mut body = EdgeBody::inner(Exploding(false), false);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "part");
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("mid-stream"), "{error}");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_panic_mid_stream_ends_a_grpc_body_with_internal() {
        let body = EdgeBody::inner(Exploding(false), true);
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()[GRPC_STATUS], "13");
        assert_eq!(collected.to_bytes(), "part");
    }
}
