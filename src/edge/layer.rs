//! [`EdgeLayer`].

use tower_layer::Layer;

use super::Edge;

/// Wraps a service in an [`Edge`]; see the [module documentation](super).
///
/// Stateless, so building it per route or per connection (as axum does)
/// costs nothing and shares nothing by mistake.
#[derive(Debug, Clone, Copy, Default)]
pub struct EdgeLayer {
    _private: (),
}

impl EdgeLayer {
    /// The edge layer.
    pub const fn new() -> Self {
        EdgeLayer { _private: () }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge::new(inner)
    }
}
