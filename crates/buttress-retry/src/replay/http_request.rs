//! [`BufferBody`] for `http::Request<B>`.

use std::sync::Arc;

use http::{Extensions, Method, Version};
use http_body::Body;

use super::body::{ReplayBody, Slot};
use super::head::HeadCopy;
use super::{BufferBody, Replay, ReplayMemory};

/// What [`BufferBody`] keeps of an `http::Request<B>` between attempts:
/// the head (method, URI, version, headers, extensions) and a handle on
/// the body's replay buffer.
///
/// The URI and headers are copied into one buffer rather than cloned
/// (`HeadCopy`): one allocation, where a cloned map takes two and one more
/// per value built from text, and a URI parsed from text one more, on
/// every request that may be retried. They are rebuilt only for an actual
/// retry. The buffer is the size of the URI and headers and, unlike the
/// body's, not counted against `replay_memory`: hyper and h2 bound a
/// request's head (their own limits), and so does the cloned map tower's
/// retry keeps.
#[derive(Debug)]
pub struct HttpCopy<B> {
    method: Method,
    version: Version,
    head: HeadCopy,
    extensions: Extensions,
    body: Kept<B>,
}

impl<B> HttpCopy<B> {
    fn new(parts: &http::request::Parts, head: HeadCopy, body: Kept<B>) -> Self {
        HttpCopy {
            method: parts.method.clone(),
            version: parts.version,
            head,
            extensions: parts.extensions.clone(),
            body,
        }
    }

    /// The request again; `None` if its URI or headers cannot be rebuilt
    /// (see `HeadCopy::head`), so that it is not sent without them.
    fn request<T>(&self, body: T) -> Option<http::Request<T>> {
        let (uri, headers) = self.head.head()?;
        let mut request = http::Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = self.version;
        *request.extensions_mut() = self.extensions.clone();
        *request.headers_mut() = headers;
        Some(request)
    }
}

#[derive(Debug)]
enum Kept<B> {
    Empty,
    Buffered { slot: Arc<Slot<B>> },
}

impl<B> Replay<http::Request<B>> for BufferBody
where
    B: Body + Unpin,
{
    type Sent = http::Request<ReplayBody<B>>;
    type Copy = HttpCopy<B>;

    fn once(&self, request: http::Request<B>) -> Self::Sent {
        request.map(ReplayBody::once)
    }

    fn first(
        &self,
        request: http::Request<B>,
        memory: &ReplayMemory,
    ) -> (Self::Sent, Option<HttpCopy<B>>) {
        let (parts, body) = request.into_parts();
        let Some(head) = HeadCopy::new(&parts.uri, &parts.headers) else {
            // A head (URI and headers) of 4 GiB or more: sent once, not kept.
            return (
                http::Request::from_parts(parts, ReplayBody::once(body)),
                None,
            );
        };
        if body.is_end_stream() {
            // Nothing to buffer: no shared slot, no allocation for the body.
            let copy = HttpCopy::new(&parts, head, Kept::Empty);
            return (
                http::Request::from_parts(parts, ReplayBody::empty()),
                Some(copy),
            );
        }
        let lower = body.size_hint().lower();
        if lower > memory.body_limit() as u64 || lower.max(1) > memory.available() as u64 {
            // Known to be too large (say, by its content-length), or the
            // layer holds all the replay memory it may: send it once,
            // without buffering a byte.
            return (
                http::Request::from_parts(parts, ReplayBody::once(body)),
                None,
            );
        }
        let slot = Arc::new(Slot::default());
        let copy = HttpCopy::new(&parts, head, Kept::Buffered { slot: slot.clone() });
        let body = ReplayBody::tee(body, slot, memory.clone());
        (http::Request::from_parts(parts, body), Some(copy))
    }

    fn again(&self, copy: &mut HttpCopy<B>) -> Option<Self::Sent> {
        let body = match &copy.body {
            Kept::Empty => ReplayBody::empty(),
            Kept::Buffered { slot } => ReplayBody::resume(slot)?,
        };
        copy.request(body)
    }
}
