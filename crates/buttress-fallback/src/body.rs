//! [`FallbackBody`]: the inner service's body (recorded for the stale
//! cache when a refresh is due), or a fallback answer's own.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::body::LocalOrInner;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::stale::StaleCache;

/// The response body of a [`Fallback`](crate::Fallback): the inner
/// service's body, passed through without boxing, or a fallback answer's
/// bytes ([`is_local`](LocalOrInner::is_local)).
pub type FallbackBody<B> = LocalOrInner<Recorded<B>>;

pin_project! {
    /// The inner service's body as a [`Fallback`](crate::Fallback) passes
    /// it on: unchanged, and copied into the stale cache as it streams by
    /// when that key's refresh is due.
    pub struct Recorded<B> {
        #[pin]
        body: B,
        // Boxed so a body that records nothing stays small.
        recorder: Option<Box<Recorder>>,
    }
}

/// A good answer on its way into the stale cache.
pub(crate) struct Recorder {
    pub(crate) cache: Arc<StaleCache>,
    pub(crate) key: String,
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) data: BytesMut,
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

    pub(crate) fn finish(self) {
        let Recorder {
            cache,
            key,
            status,
            version,
            headers,
            data,
        } = self;
        // A body collected in a growing buffer may sit in up to twice its
        // length: kept, it gets an allocation of its own size.
        let body = if data.capacity() > data.len() {
            Bytes::copy_from_slice(&data)
        } else {
            data.freeze()
        };
        cache.store(key, status, version, &headers, body);
    }
}

/// The inner body, passed on untouched.
pub(crate) fn passed<B>(body: B) -> FallbackBody<B> {
    LocalOrInner::inner(Recorded {
        body,
        recorder: None,
    })
}

/// The inner body, copied into the cache as it streams by (at once, if
/// it is already over).
pub(crate) fn recorded<B: Body>(body: B, recorder: Recorder) -> FallbackBody<B> {
    if body.is_end_stream() {
        recorder.finish();
        return passed(body);
    }
    LocalOrInner::inner(Recorded {
        body,
        recorder: Some(Box::new(recorder)),
    })
}

impl<B> Body for Recorded<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let mut body = this.body;
        let frame = match body.as_mut().poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        let recorder = this.recorder;
        if recorder.is_some() {
            let keep = match &frame {
                Some(Ok(frame)) => match frame.data_ref() {
                    Some(chunk) => recorder.as_mut().is_some_and(|r| r.push(chunk)),
                    // Trailers: a gRPC answer is judged by them; do not
                    // keep it as a good one.
                    None => false,
                },
                Some(Err(_)) => false,
                None => true,
            };
            // Servers stop polling once the body says it has ended, so
            // the end is seen either way.
            let ended = frame.is_none() || body.as_ref().get_ref().is_end_stream();
            match recorder.take() {
                Some(done) if keep && ended => (*done).finish(),
                Some(going) if keep => *recorder = Some(going),
                _ => {}
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B> std::fmt::Debug for Recorded<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}
