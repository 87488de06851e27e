//! [`LayerHandle`]: what every layer's handle has in common.

use crate::telemetry::LayerId;

/// What every layer's handle (`layer.handle()`) offers: the identity the
/// layer reports under. Each handle adds the layer's own state and
/// gauges as methods, and, where the layer supports it, setters that
/// change its behaviour at run time. Handles are cheap to clone and see
/// every clone of their layer, since a layer's state is shared.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::timeout::TimeoutLayer;
/// use buttress_core::telemetry::LayerKind;
///
/// let layer = TimeoutLayer::builder().name("search").build().unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().kind(), LayerKind::Timeout);
/// assert_eq!(handle.id().name(), "search");
/// ```
pub trait LayerHandle: Clone + Send + Sync + 'static {
    /// The kind and name the layer reports under.
    fn id(&self) -> &LayerId;
}
