//! [`OptionalLayer`] and [`BypassLayer`]: a layer that may be left out,
//! decided at run time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::layer::Bypass;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// A layer that is either applied or left out, chosen when the stack is
/// built (from a builder call or a config file), with one type either way.
///
/// tower's own `option_layer` needs tower's `util` feature and boxes the
/// error; this one keeps the error of the layer it wraps, so a server
/// stack whose edge answers every error keeps its `Infallible`.
///
/// ```
/// use buttress::stack::OptionalLayer;
/// use buttress::core::timeout::TimeoutLayer;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, buttress::BoxError>(http::Response::new(()))
/// });
/// let on = OptionalLayer::new(Some(TimeoutLayer::new(Duration::from_secs(1)).expect("a valid timeout")));
/// let off = OptionalLayer::<TimeoutLayer>::off();
/// assert!(on.get().is_some() && off.get().is_none());
/// let res = off.layer(svc).oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OptionalLayer<L> {
    layer: Option<L>,
}

impl<L> OptionalLayer<L> {
    /// Applies `layer` if it is `Some`.
    pub const fn new(layer: Option<L>) -> Self {
        OptionalLayer { layer }
    }

    /// Leaves the layer out.
    pub const fn off() -> Self {
        OptionalLayer { layer: None }
    }

    /// The layer, if it is applied.
    pub fn get(&self) -> Option<&L> {
        self.layer.as_ref()
    }
}

impl<L> Default for OptionalLayer<L> {
    fn default() -> Self {
        Self::off()
    }
}

impl<S, L: Layer<S>> Layer<S> for OptionalLayer<L> {
    type Service = Optional<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.layer {
            Some(layer) => Optional::On(layer.layer(inner)),
            None => Optional::Off(inner),
        }
    }
}

/// The service an [`OptionalLayer`] builds: the layered service, or the
/// inner one untouched. Its error is the layered service's; the inner
/// one's converts into it.
#[derive(Debug, Clone)]
pub enum Optional<A, B> {
    /// The layer is applied.
    On(A),
    /// The layer is left out.
    Off(B),
}

impl<A, B, Req> Service<Req> for Optional<A, B>
where
    A: Service<Req>,
    B: Service<Req, Response = A::Response>,
    B::Error: Into<A::Error>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = ResponseFuture<A::Future, B::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Optional::On(on) => on.poll_ready(cx),
            Optional::Off(off) => off.poll_ready(cx).map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        match self {
            Optional::On(on) => ResponseFuture {
                kind: Kind::On {
                    future: on.call(request),
                },
            },
            Optional::Off(off) => ResponseFuture {
                kind: Kind::Off {
                    future: off.call(request),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`Optional`].
    pub struct ResponseFuture<FA, FB> {
        #[pin]
        kind: Kind<FA, FB>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<FA, FB> {
        On { #[pin] future: FA },
        Off { #[pin] future: FB },
    }
}

impl<FA, FB, T, E, E2> Future for ResponseFuture<FA, FB>
where
    FA: Future<Output = Result<T, E>>,
    FB: Future<Output = Result<T, E2>>,
    E2: Into<E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::On { future } => future.poll(cx),
            KindProjection::Off { future } => future.poll(cx).map_err(Into::into),
        }
    }
}

/// A layer that may be left out, for layers that know their own off
/// state ([`Bypass`]): on or off, the service is the layer's own type, so
/// leaving a layer out adds no level of wrapping — no enum around each
/// response future, no extra move of it on every call. The server stack
/// holds its layers this way.
///
/// ```
/// use buttress::core::layer::Bypass;
/// use buttress::core::timeout::TimeoutLayer;
/// use buttress::stack::BypassLayer;
/// use std::time::Duration;
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|_: http::Request<()>| async { Ok::<_, std::convert::Infallible>(2) });
/// let on = BypassLayer::new(Some(TimeoutLayer::new(Duration::from_secs(1)).expect("a valid timeout")));
/// let off = BypassLayer::<TimeoutLayer>::off();
/// // The same service type either way.
/// let mut services = [on.layer(inner.clone()), off.layer(inner)];
/// for service in &mut services {
///     let answer = service.ready().await.unwrap().call(http::Request::new(())).await;
///     assert_eq!(answer.unwrap(), 2);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BypassLayer<L> {
    layer: Option<L>,
}

impl<L> BypassLayer<L> {
    /// `Some(layer)` applies it, `None` bypasses it.
    pub const fn new(layer: Option<L>) -> Self {
        BypassLayer { layer }
    }

    /// The layer bypassed.
    pub const fn off() -> Self {
        BypassLayer { layer: None }
    }

    /// The layer, if it is on.
    pub fn get(&self) -> Option<&L> {
        self.layer.as_ref()
    }
}

impl<L> Default for BypassLayer<L> {
    fn default() -> Self {
        Self::off()
    }
}

impl<S, L: Bypass<S>> Layer<S> for BypassLayer<L> {
    type Service = L::Service;

    fn layer(&self, inner: S) -> L::Service {
        match &self.layer {
            Some(layer) => layer.layer(inner),
            None => L::bypass(inner),
        }
    }
}
