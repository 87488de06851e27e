//! When a call gives its permit back: with the response, or when the
//! response body ends.
//!
//! A handler that returns headers at once and then streams a large body
//! still occupies the dependency (or this server) until the body is done.
//! Counting it as finished when the head arrives would let a bulkhead admit
//! far more streams than it means to. [`OnBodyEnd`] moves the permit into
//! the body ([`PermitBody`]), which gives it back at the end of the stream,
//! on a body error, or when the body is dropped.

use buttress_core::body::{BodyEnd, Watch, Watched};

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
        response.map(|inner| Watched::new(inner, permit))
    }
}

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
pub type PermitBody<B> = Watched<B, Permit>;

/// The permit needs no verdict: dropped with the watch, it gives its
/// capacity back.
impl Watch for Permit {
    #[inline]
    fn end(&mut self, _: BodyEnd<'_>) {}
}
