//! When a call gives its permit back: with the response, or when the
//! response body ends.
//!
//! A handler that returns headers at once and then streams a large body
//! still occupies the dependency (or this server) until the body is done.
//! Counting it as finished when the head arrives would let a bulkhead admit
//! far more streams than it means to. [`OnBodyEnd`] moves the permit into
//! the body ([`PermitBody`]), which gives it back at the end of the stream,
//! on a body error, or when the body is dropped.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::permit::Permit;

/// Decides what a layer does with a call's permit once the response is
/// ready.
pub trait ReleasePolicy<Response> {
    /// The response the layer returns.
    type Output;

    /// Attaches `permit` to `response`, or drops it (returning capacity).
    fn attach(response: Response, permit: Option<Permit>) -> Self::Output;
}

/// Gives the permit back when the response (head) is ready. The default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnResponse;

impl<Response> ReleasePolicy<Response> for OnResponse {
    type Output = Response;

    #[inline]
    fn attach(response: Response, permit: Option<Permit>) -> Response {
        drop(permit);
        response
    }
}

/// Keeps the permit in the HTTP response body until the body ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnBodyEnd;

impl<B> ReleasePolicy<http::Response<B>> for OnBodyEnd {
    type Output = http::Response<PermitBody<B>>;

    fn attach(response: http::Response<B>, permit: Option<Permit>) -> Self::Output {
        response.map(|inner| PermitBody::new(inner, permit))
    }
}

pin_project! {
    /// A response body that holds a [`Permit`] until it ends: the last
    /// frame, a body error, or the body dropped early.
    ///
    /// ```
    /// use buttress_limit::{BulkheadConfig, BulkheadLayer, PermitBody};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let config = BulkheadConfig { max_concurrent: 1, ..BulkheadConfig::default() };
    /// let layer = BulkheadLayer::from_config(&config).unwrap().release_on_body_end();
    /// let bulkhead = layer.handle();
    /// let svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from("hi"))))
    /// });
    /// let res = svc.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(bulkhead.in_flight(), 1); // still streaming
    /// let body = res.into_body().collect().await.unwrap().to_bytes();
    /// assert_eq!(body, "hi");
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # }
    /// ```
    pub struct PermitBody<B> {
        #[pin]
        inner: B,
        permit: Option<Permit>,
    }
}

impl<B> PermitBody<B> {
    /// Wraps `inner`, holding `permit` until it ends.
    pub fn new(inner: B, permit: Option<Permit>) -> Self {
        PermitBody { inner, permit }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body, giving the permit back now.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for PermitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(_)) => {
                if this.inner.is_end_stream() {
                    this.permit.take();
                }
            }
            Some(Err(_)) | None => {
                this.permit.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for PermitBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitBody")
            .field("inner", &self.inner)
            .field("holds_permit", &self.permit.is_some())
            .finish()
    }
}
