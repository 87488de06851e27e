//! [`EdgeBody`]: the inner service's body, or the edge's own short one.

use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of an [`Edge`](super::Edge): the inner service's
    /// body, passed through without boxing, or the short body of an answer
    /// the edge wrote itself.
    pub struct EdgeBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // One chunk, or nothing (a trailers-only gRPC answer).
        Local { chunk: Option<Bytes> },
    }
}

impl<B> EdgeBody<B> {
    pub(super) fn inner(body: B) -> Self {
        EdgeBody {
            kind: Kind::Inner { body },
        }
    }

    pub(super) fn local(chunk: Bytes) -> Self {
        EdgeBody {
            kind: Kind::Local {
                chunk: (!chunk.is_empty()).then_some(chunk),
            },
        }
    }

    pub(super) fn empty() -> Self {
        EdgeBody {
            kind: Kind::Local { chunk: None },
        }
    }

    /// Whether the edge wrote this body itself (a rejection, an error or
    /// a panic answer).
    pub fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Local { .. })
    }
}

impl<B> Body for EdgeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProjection::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProjection::Local { chunk } => {
                Poll::Ready(chunk.take().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Local { chunk } => chunk.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Local { chunk } => {
                SizeHint::with_exact(chunk.as_ref().map_or(0, |c| c.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for EdgeBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeBody")
            .field("local", &self.is_local())
            .finish()
    }
}
