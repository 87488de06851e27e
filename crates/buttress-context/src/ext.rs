//! [`ServiceBuilderExt`]: the context layers as `ServiceBuilder` methods.

use tower::ServiceBuilder;
use tower::layer::util::Stack;

use crate::{ClientContextLayer, ServerContextLayer};

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds the context layers to a `tower::ServiceBuilder`. Sealed: only
/// `ServiceBuilder` implements it.
///
/// ```
/// use buttress_context::{ClientContextLayer, ServiceBuilderExt, ServerContextLayer};
/// use tower::ServiceBuilder;
///
/// let server = ServiceBuilder::new()
///     .server_context(ServerContextLayer::public())
///     .service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
///     });
/// let client = ServiceBuilder::new()
///     .client_context(ClientContextLayer::new())
///     .service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
///     });
/// # drop((server, client));
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds a [`ServerContextLayer`].
    fn server_context(
        self,
        layer: ServerContextLayer,
    ) -> ServiceBuilder<Stack<ServerContextLayer, L>>;

    /// Adds a [`ClientContextLayer`].
    fn client_context(
        self,
        layer: ClientContextLayer,
    ) -> ServiceBuilder<Stack<ClientContextLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn server_context(
        self,
        layer: ServerContextLayer,
    ) -> ServiceBuilder<Stack<ServerContextLayer, L>> {
        self.layer(layer)
    }

    fn client_context(
        self,
        layer: ClientContextLayer,
    ) -> ServiceBuilder<Stack<ClientContextLayer, L>> {
        self.layer(layer)
    }
}
