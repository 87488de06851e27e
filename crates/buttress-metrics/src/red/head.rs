//! [`RedHeadLayer`]: RED metrics judged by the response head alone, the
//! body passed on unwrapped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::layer::Bypass;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::RedLayer;
use super::service::Red;

/// A [`RedLayer`] that records each call when its response head arrives
/// and hands the caller the transport's own body type: for clients, whose
/// callers expect the body they would get without metrics (a body that
/// fails mid-stream is counted by the server that sent it). Built by
/// [`RedLayer::at_head`].
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_metrics::{RedLayer, RedSide};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let red = RedLayer::builder().configure(|c| c.side = RedSide::Client).build().unwrap();
/// let transport = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new("body"))
/// });
/// let client = red.at_head().layer(transport);
/// let res: http::Response<&str> = client.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(*res.body(), "body");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedHeadLayer {
    layer: RedLayer,
}

impl RedLayer {
    /// This layer, recording at the response head and passing the body on
    /// unwrapped: see [`RedHeadLayer`].
    pub fn at_head(self) -> RedHeadLayer {
        RedHeadLayer { layer: self }
    }
}

impl<S> Layer<S> for RedHeadLayer {
    type Service = RedHead<S>;

    fn layer(&self, inner: S) -> RedHead<S> {
        RedHead {
            inner: self.layer.layer(inner),
        }
    }
}

/// Left out of a stack, a head-recording RED layer records nothing and
/// hands the body on, at the cost of one branch.
impl<S> Bypass<S> for RedHeadLayer {
    fn bypass(inner: S) -> RedHead<S> {
        RedHead {
            inner: <RedLayer as Bypass<S>>::bypass(inner),
        }
    }
}

/// The service a [`RedHeadLayer`] builds.
#[derive(Debug, Clone)]
pub struct RedHead<S> {
    inner: Red<S>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RedHead<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HeadFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        HeadFuture {
            future: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`RedHead`].
    pub struct HeadFuture<F> {
        #[pin]
        future: ResponseFuture<F>,
    }
}

impl<F, B, E> Future for HeadFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<B>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll_head(cx)
    }
}

impl<F> std::fmt::Debug for HeadFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadFuture").finish_non_exhaustive()
    }
}
