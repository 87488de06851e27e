//! [`LocalOrInner`]: the inner service's body, or a short one a layer
//! wrote itself.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::BoxError;

pin_project! {
    /// A response body that is either the inner service's, passed through
    /// without boxing, or one a layer wrote itself (a rejection answer, a
    /// fallback, a cached copy): one chunk, and optionally trailers.
    ///
    /// ```
    /// use buttress_core::body::LocalOrInner;
    /// use http_body_util::{BodyExt, Full};
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let local: LocalOrInner<Full<Bytes>> = LocalOrInner::local(Bytes::from_static(b"busy"));
    /// assert!(local.is_local());
    /// assert_eq!(local.collect().await.unwrap().to_bytes(), "busy");
    ///
    /// let inner = LocalOrInner::inner(Full::new(Bytes::from_static(b"ok")));
    /// assert_eq!(inner.collect().await.unwrap().to_bytes(), "ok");
    /// # }
    /// ```
    pub struct LocalOrInner<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // Trailers are rare on a body a layer writes (a gRPC stream ended
        // after a panic), and a header map is 96 bytes: boxed, the body
        // costs every response that carries it 88 bytes less to move.
        Local { chunk: Option<Bytes>, trailers: Option<Box<http::HeaderMap>> },
    }
}

impl<B> LocalOrInner<B> {
    /// The inner service's body.
    #[inline]
    pub fn inner(body: B) -> Self {
        LocalOrInner {
            kind: Kind::Inner { body },
        }
    }

    /// A body of one chunk (none when `chunk` is empty).
    pub fn local(chunk: Bytes) -> Self {
        Self::local_with_trailers(chunk, None)
    }

    /// A body of one chunk followed by `trailers`.
    pub fn local_with_trailers(chunk: Bytes, trailers: Option<http::HeaderMap>) -> Self {
        LocalOrInner {
            kind: Kind::Local {
                chunk: (!chunk.is_empty()).then_some(chunk),
                trailers: trailers.map(Box::new),
            },
        }
    }

    /// An empty body (a trailers-only gRPC answer keeps its status in the
    /// head).
    pub fn empty() -> Self {
        Self::local(Bytes::new())
    }

    /// Whether a layer wrote this body itself.
    pub fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Local { .. })
    }
}

impl<B> Body for LocalOrInner<B>
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
        match self.project().kind.project() {
            KindProjection::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProjection::Local { chunk, trailers } => Poll::Ready(match chunk.take() {
                Some(chunk) => Some(Ok(Frame::data(chunk))),
                None => trailers.take().map(|t| Ok(Frame::trailers(*t))),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Local { chunk, trailers } => chunk.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Local { chunk, .. } => {
                SizeHint::with_exact(chunk.as_ref().map_or(0, |c| c.len() as u64))
            }
        }
    }
}

impl<B> fmt::Debug for LocalOrInner<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalOrInner")
            .field("local", &self.is_local())
            .finish()
    }
}
