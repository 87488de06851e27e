//! [`FallbackBody`]: the inner service's body (recorded for the stale
//! cache when a refresh is due), or a fallback answer's own.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::stale::StaleCache;

pin_project! {
    /// The response body of a [`Fallback`](super::Fallback): the inner
    /// service's body, passed through without boxing, or a fallback
    /// answer's bytes.
    pub struct FallbackBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
            // Copies a good answer for the stale cache as it streams by;
            // boxed so a body that records nothing stays small.
            recorder: Option<Box<Recorder>>,
        },
        Local { chunk: Option<Bytes> },
    }
}

/// A good answer on its way into the stale cache.
pub(super) struct Recorder {
    pub(super) cache: Arc<StaleCache>,
    pub(super) key: String,
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) data: BytesMut,
}

impl Recorder {
    /// Adds a chunk; `false` once the body is over the cache's cap.
    fn push(&mut self, chunk: &Bytes) -> bool {
        if self.data.len() + chunk.len() > self.cache.max_body {
            return false;
        }
        self.data.extend_from_slice(chunk);
        true
    }

    pub(super) fn finish(self) {
        let Recorder {
            cache,
            key,
            status,
            version,
            headers,
            data,
        } = self;
        cache.store(key, status, version, headers, data.freeze());
    }
}

impl<B> FallbackBody<B> {
    pub(super) fn inner(body: B) -> Self {
        FallbackBody {
            kind: Kind::Inner {
                body,
                recorder: None,
            },
        }
    }

    /// The inner body, copied into the cache as it streams by (at once,
    /// if it is already over).
    pub(super) fn recorded(body: B, recorder: Recorder) -> Self
    where
        B: Body,
    {
        if body.is_end_stream() {
            recorder.finish();
            return Self::inner(body);
        }
        FallbackBody {
            kind: Kind::Inner {
                body,
                recorder: Some(Box::new(recorder)),
            },
        }
    }

    pub(super) fn local(chunk: Bytes) -> Self {
        FallbackBody {
            kind: Kind::Local {
                chunk: (!chunk.is_empty()).then_some(chunk),
            },
        }
    }

    /// Whether this is a fallback answer's body, not the inner service's.
    pub fn is_fallback(&self) -> bool {
        matches!(self.kind, Kind::Local { .. })
    }
}

impl<B> Body for FallbackBody<B>
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
            KindProjection::Inner { mut body, recorder } => {
                let frame = match body.as_mut().poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(frame) => frame,
                };
                if recorder.is_some() {
                    let keep = match &frame {
                        Some(Ok(frame)) => match frame.data_ref() {
                            Some(chunk) => recorder.as_mut().is_some_and(|r| r.push(chunk)),
                            // Trailers: a gRPC answer is judged by them;
                            // do not keep it as a good one.
                            None => false,
                        },
                        Some(Err(_)) => false,
                        None => true,
                    };
                    // Servers stop polling once the body says it has
                    // ended, so the end is seen either way.
                    let ended = frame.is_none() || body.as_ref().get_ref().is_end_stream();
                    match recorder.take() {
                        Some(done) if keep && ended => (*done).finish(),
                        Some(going) if keep => *recorder = Some(going),
                        _ => {}
                    }
                }
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            KindProjection::Local { chunk } => {
                Poll::Ready(chunk.take().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body, .. } => body.is_end_stream(),
            Kind::Local { chunk } => chunk.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body, .. } => body.size_hint(),
            Kind::Local { chunk } => {
                SizeHint::with_exact(chunk.as_ref().map_or(0, |c| c.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for FallbackBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackBody")
            .field("fallback", &self.is_fallback())
            .finish()
    }
}
