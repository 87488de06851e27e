//! [`MetricsSlot`]: a stack's RED metrics layer, on or off, with one
//! response type either way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use buttress_metrics::{Red, RedBody, RedLayer};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The RED metrics layer of a stack, or its absence. RED keeps each
/// request's record in the response body until the body ends (so that a
/// body failing mid-stream counts as a failure), which wraps the body in
/// a [`RedBody`]; left out, the body is wrapped all the same, recording
/// nothing, so a stack has one type whether its metrics are on or off.
#[derive(Debug, Clone, Default)]
pub struct MetricsSlot {
    layer: Option<RedLayer>,
}

impl MetricsSlot {
    /// Applies `layer` if it is `Some`.
    pub const fn new(layer: Option<RedLayer>) -> Self {
        MetricsSlot { layer }
    }

    /// The layer, if it is applied.
    pub fn get(&self) -> Option<&RedLayer> {
        self.layer.as_ref()
    }
}

impl<S> Layer<S> for MetricsSlot {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.layer {
            Some(layer) => Metrics::On(layer.layer(inner)),
            None => Metrics::Off(inner),
        }
    }
}

/// The service a [`MetricsSlot`] builds.
#[derive(Debug, Clone)]
pub enum Metrics<S> {
    /// Recorded by RED.
    On(Red<S>),
    /// Not recorded; the body is wrapped all the same.
    Off(S),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Metrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
{
    type Response = Response<RedBody<ResBody>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Metrics::On(on) => on.poll_ready(cx),
            Metrics::Off(off) => off.poll_ready(cx),
        }
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self {
            Metrics::On(on) => MetricsFuture {
                kind: Kind::On {
                    future: on.call(request),
                },
            },
            Metrics::Off(off) => MetricsFuture {
                kind: Kind::Off {
                    future: off.call(request),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`Metrics`].
    pub struct MetricsFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F> {
        On { #[pin] future: buttress_metrics::ResponseFuture<F> },
        Off { #[pin] future: F },
    }
}

impl<F, B, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<RedBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::On { future } => future.poll(cx),
            KindProjection::Off { future } => {
                let result = ready!(future.poll(cx));
                Poll::Ready(result.map(|response| response.map(RedBody::unrecorded)))
            }
        }
    }
}

impl<F> std::fmt::Debug for MetricsFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsFuture").finish_non_exhaustive()
    }
}

/// RED metrics judged by the response head alone, the body passed on
/// unwrapped: the client stack's metrics layer, whose response type is
/// the transport's own. (A body that fails mid-stream is counted by the
/// server that sent it — its stack's [`MetricsSlot`] records to the body's
/// end — not by this client.)
#[derive(Debug, Clone)]
pub struct RedAtHead {
    layer: RedLayer,
}

impl RedAtHead {
    /// Records with `layer`, at the response head.
    pub fn new(layer: RedLayer) -> Self {
        RedAtHead { layer }
    }
}

impl<S> Layer<S> for RedAtHead {
    type Service = RedAtHeadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RedAtHeadService {
            inner: self.layer.layer(inner),
        }
    }
}

/// The service a [`RedAtHead`] builds.
#[derive(Debug, Clone)]
pub struct RedAtHeadService<S> {
    inner: Red<S>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RedAtHeadService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RedAtHeadFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        RedAtHeadFuture {
            future: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`RedAtHeadService`].
    pub struct RedAtHeadFuture<F> {
        #[pin]
        future: buttress_metrics::ResponseFuture<F>,
    }
}

impl<F, B, E> Future for RedAtHeadFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<B>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(self.project().future.poll(cx));
        Poll::Ready(result.map(|response| response.map(RedBody::into_inner)))
    }
}

impl<F> std::fmt::Debug for RedAtHeadFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedAtHeadFuture").finish_non_exhaustive()
    }
}
