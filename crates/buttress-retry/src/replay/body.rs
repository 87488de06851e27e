//! [`ReplayBody`]: a request body that keeps what it sends, up to a limit,
//! so that the next attempt can send it again.
//!
//! The first attempt's body reads the caller's body and tees each data
//! chunk into a buffer (a `Bytes` clone: no copy for `Bytes` chunks) while
//! the total stays within the limit. When the attempt ends, its body is
//! dropped, and it *parks* what it holds — the buffer, and the rest of the
//! caller's body if it was not read to the end (a connection refused before
//! the body was sent) — in a slot shared with the retry future. The next
//! attempt's body takes it from the slot, replays the buffer and goes on
//! reading where the previous one stopped.
//!
//! The slot is a `std` mutex touched twice per attempt (park on drop, take
//! on retry), never while polling, and never by two requests: it is
//! per-request state, not a lock on the hot path. A body that outgrew the
//! limit or failed cannot be replayed, and its request is not retried.
//!
//! Every kept byte is also taken from the layer's [`ReplayMemory`], which
//! caps what all its requests hold together: a chunk that does not fit
//! breaks the body as one over the limit does, and what a body held is
//! given back when it breaks or when its request ends (the parked state is
//! dropped).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use super::ReplayMemory;

/// Where a body parks between attempts.
pub(crate) struct Slot<B> {
    parked: Mutex<Option<Parked<B>>>,
}

impl<B> Default for Slot<B> {
    fn default() -> Self {
        Slot {
            parked: Mutex::new(None),
        }
    }
}

impl<B> Slot<B> {
    fn lock(&self) -> MutexGuard<'_, Option<Parked<B>>> {
        // A panic while parking leaves nothing inconsistent behind.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<B> std::fmt::Debug for Slot<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("parked", &self.lock().is_some())
            .finish()
    }
}

/// A body's state between attempts.
struct Parked<B> {
    /// The rest of the caller's body; `None` once read to its end.
    rest: Option<B>,
    /// Every data chunk read so far, while within the limit.
    chunks: Vec<Bytes>,
    /// Their total length.
    buffered: usize,
    /// The trailers, once read.
    trailers: Option<HeaderMap>,
    /// Outgrew the limit or failed: cannot be replayed.
    broken: bool,
    /// Where `buffered` was taken from, and is given back to.
    memory: ReplayMemory,
}

impl<B> Parked<B> {
    /// Keeps `chunk` if it fits the per-request limit and the layer's cap.
    #[inline]
    fn keep(&mut self, chunk: &Bytes) -> bool {
        let len = chunk.len();
        if self.buffered + len > self.memory.body_limit() || !self.memory.reserve(len) {
            return false;
        }
        self.buffered += len;
        self.chunks.push(chunk.clone());
        true
    }

    /// Cannot be replayed: frees what was kept.
    fn break_off(&mut self) {
        self.broken = true;
        self.chunks = Vec::new();
        self.memory.release(std::mem::take(&mut self.buffered));
    }
}

impl<B> Drop for Parked<B> {
    fn drop(&mut self) {
        self.memory.release(self.buffered);
    }
}

/// The body the inner service receives under [`BufferBody`](super::BufferBody):
/// the caller's body, teed into a replay buffer or replayed from one.
///
/// Its data chunks are [`Bytes`]; its error is the caller's body's error.
pub struct ReplayBody<B> {
    state: State<B>,
}

enum State<B> {
    Empty,
    Once(B),
    Tee(Tee<B>),
}

struct Tee<B> {
    parked: Option<Parked<B>>,
    slot: Arc<Slot<B>>,
    /// Chunks of `parked.chunks` this body has yielded.
    position: usize,
    /// Their total length.
    position_bytes: usize,
    trailers_sent: bool,
}

impl<B> ReplayBody<B> {
    /// A body with nothing in it.
    pub(crate) fn empty() -> Self {
        ReplayBody {
            state: State::Empty,
        }
    }

    /// The caller's body, passed through and never replayed.
    pub(crate) fn once(body: B) -> Self {
        ReplayBody {
            state: State::Once(body),
        }
    }

    /// The first attempt's body: reads `body`, buffering what `memory`
    /// allows, and parks in `slot` when dropped.
    pub(crate) fn tee(body: B, slot: Arc<Slot<B>>, memory: ReplayMemory) -> Self {
        ReplayBody {
            state: State::Tee(Tee {
                parked: Some(Parked {
                    rest: Some(body),
                    chunks: Vec::new(),
                    buffered: 0,
                    trailers: None,
                    broken: false,
                    memory,
                }),
                slot,
                position: 0,
                position_bytes: 0,
                trailers_sent: false,
            }),
        }
    }

    /// The next attempt's body, from what the previous one parked; `None`
    /// if it cannot be replayed or has not been parked (the previous
    /// attempt's body is still alive somewhere).
    pub(crate) fn resume(slot: &Arc<Slot<B>>) -> Option<Self> {
        let parked = slot.lock().take()?;
        if parked.broken {
            return None;
        }
        Some(ReplayBody {
            state: State::Tee(Tee {
                parked: Some(parked),
                slot: slot.clone(),
                position: 0,
                position_bytes: 0,
                trailers_sent: false,
            }),
        })
    }
}

impl<B> Drop for Tee<B> {
    fn drop(&mut self) {
        if let Some(parked) = self.parked.take() {
            *self.slot.lock() = Some(parked);
        }
    }
}

fn into_bytes<D: Buf>(mut data: D) -> Bytes {
    let len = data.remaining();
    data.copy_to_bytes(len)
}

impl<B> Tee<B>
where
    B: Body + Unpin,
{
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let Some(parked) = self.parked.as_mut() else {
            return Poll::Ready(None);
        };
        if !parked.broken && self.position < parked.chunks.len() {
            let chunk = parked.chunks[self.position].clone();
            self.position += 1;
            self.position_bytes += chunk.len();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        while let Some(rest) = parked.rest.as_mut() {
            match ready!(Pin::new(rest).poll_frame(cx)) {
                None => parked.rest = None,
                Some(Err(error)) => {
                    parked.break_off();
                    parked.rest = None;
                    return Poll::Ready(Some(Err(error)));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let chunk = into_bytes(data);
                        if !parked.broken {
                            if parked.keep(&chunk) {
                                self.position += 1;
                                self.position_bytes += chunk.len();
                            } else {
                                // Too large to keep, for this request or
                                // the layer: free what was kept and send
                                // the rest straight through.
                                parked.break_off();
                            }
                        }
                        return Poll::Ready(Some(Ok(Frame::data(chunk))));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            parked.rest = None;
                            parked.trailers = Some(trailers.clone());
                            self.trailers_sent = true;
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                    }
                },
            }
        }
        if !self.trailers_sent
            && let Some(trailers) = &parked.trailers
        {
            self.trailers_sent = true;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        let Some(parked) = &self.parked else {
            return true;
        };
        (parked.broken || self.position >= parked.chunks.len())
            && parked.rest.is_none()
            && (self.trailers_sent || parked.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        let Some(parked) = &self.parked else {
            return SizeHint::with_exact(0);
        };
        let replay = if parked.broken {
            0
        } else {
            (parked.buffered - self.position_bytes) as u64
        };
        let rest = parked
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + replay);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + replay);
        }
        hint
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.get_mut().state {
            State::Empty => Poll::Ready(None),
            State::Once(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map(|frame| frame.map_data(into_bytes)))),
            State::Tee(tee) => tee.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Empty => true,
            State::Once(body) => body.is_end_stream(),
            State::Tee(tee) => tee.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Empty => SizeHint::with_exact(0),
            State::Once(body) => body.size_hint(),
            State::Tee(tee) => tee.size_hint(),
        }
    }
}

impl<B> std::fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.state {
            State::Empty => "empty",
            State::Once(_) => "once",
            State::Tee(_) => "replayable",
        };
        f.debug_tuple("ReplayBody").field(&kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;

    fn mem(limit: usize) -> ReplayMemory {
        ReplayMemory::new(limit, 1 << 20)
    }

    #[tokio::test]
    async fn the_layers_cap_bounds_every_body_and_is_given_back() {
        let memory = ReplayMemory::new(64, 8);
        let slot = Arc::new(Slot::default());
        let first = ReplayBody::tee(
            Full::new(Bytes::from_static(b"hello")),
            slot.clone(),
            memory.clone(),
        );
        assert_eq!(collect(first).await, b"hello");
        assert_eq!(memory.buffered(), 5);
        // A second body does not fit in what is left: sent, not kept.
        let other = Arc::new(Slot::default());
        let second = ReplayBody::tee(
            Full::new(Bytes::from_static(b"world")),
            other.clone(),
            memory.clone(),
        );
        assert_eq!(collect(second).await, b"world");
        assert!(ReplayBody::resume(&other).is_none());
        assert_eq!(memory.buffered(), 5);
        // The first request ends: its bytes are given back.
        drop(slot);
        assert_eq!(memory.buffered(), 0);
    }

    async fn collect<B: Body + Unpin>(body: ReplayBody<B>) -> Vec<u8>
    where
        B::Error: std::fmt::Debug,
    {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn replays_what_the_first_attempt_sent() {
        let slot = Arc::new(Slot::default());
        let first = ReplayBody::tee(
            Full::new(Bytes::from_static(b"hello")),
            slot.clone(),
            mem(64),
        );
        assert_eq!(first.size_hint().exact(), Some(5));
        assert_eq!(collect(first).await, b"hello");
        let second = ReplayBody::resume(&slot).expect("parked");
        assert_eq!(second.size_hint().exact(), Some(5));
        assert_eq!(collect(second).await, b"hello");
        let third = ReplayBody::resume(&slot).expect("parked again");
        assert_eq!(collect(third).await, b"hello");
    }

    #[tokio::test]
    async fn an_unread_body_is_resumed_from_where_it_stopped() {
        let slot = Arc::new(Slot::default());
        drop(ReplayBody::tee(
            Full::new(Bytes::from_static(b"abc")),
            slot.clone(),
            mem(64),
        ));
        let second = ReplayBody::resume(&slot).expect("parked unread");
        assert_eq!(collect(second).await, b"abc");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_not_replayed() {
        let slot = Arc::new(Slot::default());
        let first = ReplayBody::tee(
            Full::new(Bytes::from(vec![7u8; 100])),
            slot.clone(),
            mem(64),
        );
        assert_eq!(collect(first).await, vec![7u8; 100]);
        assert!(ReplayBody::resume(&slot).is_none());
    }

    #[tokio::test]
    async fn a_body_still_in_use_is_not_replayed() {
        let slot: Arc<Slot<Full<Bytes>>> = Arc::new(Slot::default());
        let _first = ReplayBody::tee(Full::new(Bytes::from_static(b"x")), slot.clone(), mem(64));
        assert!(ReplayBody::resume(&slot).is_none());
    }

    #[tokio::test]
    async fn trailers_are_replayed() {
        let slot = Arc::new(Slot::default());
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let expected = trailers.clone();
        // `WithTrailers` holds a future and is not `Unpin`: box it, as
        // axum and tonic box theirs.
        let inner = Box::pin(
            Full::new(Bytes::from_static(b"data"))
                .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) }),
        );
        let first = ReplayBody::tee(inner, slot.clone(), mem(64));
        let collected = first.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&expected));
        let second = ReplayBody::resume(&slot).unwrap();
        let collected = second.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&expected));
        assert_eq!(collected.to_bytes(), "data");
    }
}
