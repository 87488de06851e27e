//! [`BypassLayer`]: a layer that may be left out, decided at run time.

use buttress_core::layer::Bypass;
use tower_layer::Layer;

/// A layer that may be left out, for layers that know their own off
/// state ([`Bypass`]): on or off, the service is the layer's own type, so
/// leaving a layer out adds no level of wrapping — no enum around each
/// response future, no extra move of it on every call. Both stacks hold
/// every layer this way. (For a layer of your own without `Bypass`,
/// tower's `ServiceBuilder::option_layer` does the same with an enum.)
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
