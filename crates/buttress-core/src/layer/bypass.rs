//! [`Bypass`]: how a stack leaves a layer out without one more level of
//! wrapping.

use tower_layer::Layer;

/// A layer whose service can also stand in for the layer turned off: the
/// service [`bypass`](Bypass::bypass) makes passes every call straight to
/// the inner service, with the same types as the layer's own.
///
/// A stack whose layers may each be on or off needs one type either
/// way. An enum of "layered or not" would do, but every level of it
/// wraps each response future once more and moves it once more on every
/// call; a layer that knows its own off state costs one branch instead.
/// Every layer of the server stack implements it.
///
/// ```
/// use buttress_core::layer::Bypass;
/// use buttress_core::timeout::TimeoutLayer;
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|_: http::Request<()>| async { Ok::<_, std::convert::Infallible>(2) });
/// let mut off = <TimeoutLayer as Bypass<_>>::bypass(inner);
/// let answer = off.ready().await.unwrap().call(http::Request::new(())).await;
/// assert_eq!(answer.unwrap(), 2);
/// # }
/// ```
pub trait Bypass<S>: Layer<S> {
    /// The layer's service over `inner`, doing nothing of its own.
    fn bypass(inner: S) -> Self::Service;
}
