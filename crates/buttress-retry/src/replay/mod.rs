//! How a request is sent again: the [`Replay`] strategies.
//!
//! A tower service consumes its request, so a retry needs a copy taken
//! before the first attempt. Requiring `Req: Clone` is no answer for HTTP:
//! hyper's `Incoming`, axum's and tonic's bodies are streams that cannot be
//! cloned. Two strategies ship:
//!
//! - [`BufferBody`] (the default) for `http::Request<B>` with any
//!   streaming body `B`, and for `reqwest::Request` (feature `reqwest`):
//!   the body is teed into a buffer as the first attempt sends it, up to the
//!   layer's `body_limit`, and replayed from there. A body known or found to
//!   be larger is sent once and its request is not retried. So is a body
//!   that would take the bytes the layer holds for all its requests past
//!   its `replay_memory` cap ([`ReplayMemory`]). The inner service receives
//!   `http::Request<ReplayBody<B>>`; with [`BufferInto`] it receives
//!   the body type it takes instead (tonic's `tonic::body::Body`, a boxed
//!   body), so a transport that names its body type needs no adapter.
//! - [`CloneRequest`] for requests that are cheap to clone and carry no
//!   stream: `http::Request<()>`, `http::Request<Full<Bytes>>`, test types.
//!   The inner service receives the request type unchanged.
//!
//! A copy is kept only for requests the policy may retry (idempotent, or
//! with an `Idempotency-Key`), so other requests pay nothing for it.

mod body;
mod head;
mod http_request;
mod into;
mod memory;
#[cfg(feature = "reqwest")]
mod reqwest_request;

pub use self::body::ReplayBody;
pub use self::http_request::HttpCopy;
pub use self::into::{BufferInto, FromReplayBody};
pub use self::memory::ReplayMemory;

/// Turns a request into the attempts sent to the inner service.
///
/// Implement it to retry a request type the shipped strategies do not
/// cover.
///
/// ```
/// use buttress_retry::replay::ReplayMemory;
/// use buttress_retry::{CloneRequest, Replay};
///
/// let memory = ReplayMemory::new(0, 0);
/// let (sent, mut copy) = CloneRequest.first(http::Request::new(()), &memory);
/// let copy = copy.as_mut().expect("a clonable request is always kept");
/// let again = CloneRequest.again(copy).unwrap();
/// assert_eq!(sent.uri(), again.uri());
/// ```
pub trait Replay<Req> {
    /// The request type the inner service receives.
    type Sent;
    /// What is kept between attempts to build the next one.
    type Copy;

    /// The request as sent when it will not be retried.
    fn once(&self, request: Req) -> Self::Sent;

    /// The request as sent for its first attempt, and what is kept to send
    /// it again: `None` when it cannot be repeated (a body larger than
    /// `memory`'s per-request limit or than what is left under its cap, a
    /// stream that cannot be cloned). Bytes a strategy keeps are taken from
    /// `memory` and given back when the copy is dropped.
    fn first(&self, request: Req, memory: &ReplayMemory) -> (Self::Sent, Option<Self::Copy>);

    /// The request for another attempt, or `None` if it cannot be rebuilt
    /// (the body turned out larger than the limit, failed, or is still held
    /// by the previous attempt).
    fn again(&self, copy: &mut Self::Copy) -> Option<Self::Sent>;
}

/// Replays HTTP request bodies from a bounded buffer; the default
/// strategy. See the [module documentation](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct BufferBody;

/// Replays requests by cloning them; for requests without a streaming
/// body, such as `http::Request<()>`. See the [module documentation](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequest;

impl<Req: Clone> Replay<Req> for CloneRequest {
    type Sent = Req;
    type Copy = Req;

    #[inline]
    fn once(&self, request: Req) -> Req {
        request
    }

    #[inline]
    fn first(&self, request: Req, _memory: &ReplayMemory) -> (Req, Option<Req>) {
        (request.clone(), Some(request))
    }

    fn again(&self, copy: &mut Req) -> Option<Req> {
        Some(copy.clone())
    }
}
