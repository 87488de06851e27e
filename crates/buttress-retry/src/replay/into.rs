//! [`BufferInto`]: [`BufferBody`]'s replay, handing the transport the body
//! type it takes.

use std::fmt;
use std::marker::PhantomData;

use buttress_core::BoxError;
use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};

use super::{BufferBody, HttpCopy, Replay, ReplayBody, ReplayMemory};

/// A body type a transport takes, made from the replay's body: so that a
/// client stack drops in over a transport that names its body type
/// (tonic's `Channel` takes `tonic::body::Body`) with no conversion of the
/// user's own.
pub trait FromReplayBody<B>: Sized {
    /// `body`, as this type.
    fn from_replay(body: ReplayBody<B>) -> Self;
}

impl<B> FromReplayBody<B> for BoxBody<Bytes, BoxError>
where
    B: Body + Unpin + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    fn from_replay(body: ReplayBody<B>) -> Self {
        body.map_err(Into::into).boxed()
    }
}

impl<B> FromReplayBody<B> for UnsyncBoxBody<Bytes, BoxError>
where
    B: Body + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn from_replay(body: ReplayBody<B>) -> Self {
        body.map_err(Into::into).boxed_unsync()
    }
}

#[cfg(feature = "tonic")]
impl<B> FromReplayBody<B> for tonic::body::Body
where
    B: Body + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn from_replay(body: ReplayBody<B>) -> Self {
        tonic::body::Body::new(body)
    }
}

#[cfg(feature = "reqwest")]
impl<B> FromReplayBody<B> for reqwest::Body
where
    B: Body + Unpin + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    fn from_replay(body: ReplayBody<B>) -> Self {
        reqwest::Body::wrap(body)
    }
}

/// Replays HTTP request bodies exactly as [`BufferBody`] does, and sends
/// them as the body type `T` the transport takes (see
/// [`FromReplayBody`]).
///
/// ```
/// use buttress_retry::replay::{BufferInto, ReplayMemory};
/// use buttress_retry::Replay;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use http_body_util::combinators::UnsyncBoxBody;
///
/// type Boxed = UnsyncBoxBody<Bytes, buttress_core::BoxError>;
/// let replay = BufferInto::<Boxed>::new();
/// let memory = ReplayMemory::new(1 << 10, 1 << 20);
/// let request = http::Request::new(Full::new(Bytes::from_static(b"hello")));
/// let (sent, copy): (http::Request<Boxed>, _) = replay.first(request, &memory);
/// assert!(copy.is_some());
/// # drop(sent);
/// ```
pub struct BufferInto<T> {
    _body: PhantomData<fn() -> T>,
}

impl<T> BufferInto<T> {
    /// The strategy.
    pub const fn new() -> Self {
        BufferInto { _body: PhantomData }
    }
}

impl<T> Default for BufferInto<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for BufferInto<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for BufferInto<T> {}

impl<T> fmt::Debug for BufferInto<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BufferInto")
    }
}

impl<B, T> Replay<http::Request<B>> for BufferInto<T>
where
    B: Body + Unpin,
    T: FromReplayBody<B>,
{
    type Sent = http::Request<T>;
    type Copy = HttpCopy<B>;

    #[inline]
    fn once(&self, request: http::Request<B>) -> Self::Sent {
        BufferBody.once(request).map(T::from_replay)
    }

    #[inline]
    fn first(
        &self,
        request: http::Request<B>,
        memory: &ReplayMemory,
    ) -> (Self::Sent, Option<HttpCopy<B>>) {
        let (sent, copy) = BufferBody.first(request, memory);
        (sent.map(T::from_replay), copy)
    }

    #[inline]
    fn again(&self, copy: &mut HttpCopy<B>) -> Option<Self::Sent> {
        <BufferBody as Replay<http::Request<B>>>::again(&BufferBody, copy)
            .map(|request| request.map(T::from_replay))
    }
}
