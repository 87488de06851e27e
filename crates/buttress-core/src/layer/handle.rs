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

/// A handle whose layer takes new settings while it runs: the same
/// config type it was built from, applied from the next request on,
/// keeping the layer's state (a breaker's window and state, a bulkhead's
/// calls in flight). Settings that shape the layer's state (a window's
/// kind, a keyed layer's key space, the name it reports under) are fixed
/// once built: a config that changes one is refused, naming the field.
/// A refused config changes nothing.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, Reconfigure};
/// use buttress_core::timeout::{TimeoutConfig, TimeoutLayer};
/// use std::time::Duration;
///
/// let layer = TimeoutLayer::builder().name("search").build().unwrap();
/// let handle = layer.handle();
/// handle.reconfigure(&TimeoutConfig { limit: Some(Duration::from_millis(300)), ..TimeoutConfig::default() }).unwrap();
/// assert_eq!(handle.config().limit, Some(Duration::from_millis(300)));
/// let renamed = TimeoutConfig { name: Some("other".into()), ..TimeoutConfig::default() };
/// assert_eq!(handle.reconfigure(&renamed).unwrap_err().field(), "name");
/// ```
pub trait Reconfigure: LayerHandle {
    /// The layer's config type.
    type Config;

    /// The settings the layer runs with now.
    fn config(&self) -> Self::Config;

    /// Whether [`reconfigure`](Self::reconfigure) would take `config`:
    /// valid, and changing no setting fixed once built. Changes nothing
    /// (a stack checks every layer before it changes any).
    fn check(&self, config: &Self::Config) -> Result<(), crate::config::ConfigError>;

    /// Applies `config` from the next request on, or refuses it (see
    /// [`check`](Self::check)) and changes nothing.
    fn reconfigure(&self, config: &Self::Config) -> Result<(), crate::config::ConfigError>;
}

/// Refuses a change to a setting that is fixed once a layer is built.
///
/// ```
/// use buttress_core::layer::fixed;
///
/// assert!(fixed("window", &4, &4).is_ok());
/// assert_eq!(fixed("window", &4, &8).unwrap_err().field(), "window");
/// ```
pub fn fixed<T: PartialEq + ?Sized>(
    field: &'static str,
    running: &T,
    new: &T,
) -> Result<(), crate::config::ConfigError> {
    if running == new {
        Ok(())
    } else {
        Err(crate::config::ConfigError::new(
            field,
            "is fixed once the layer is built; restart to change it",
        ))
    }
}

/// Refuses a config that names the layer differently from the name it
/// reports under (`None` keeps the name).
///
/// ```
/// use buttress_core::layer::check_name;
/// use buttress_core::telemetry::{LayerId, LayerKind};
///
/// let id = LayerId::new(LayerKind::Bulkhead, "payments");
/// assert!(check_name(&id, None).is_ok());
/// assert!(check_name(&id, Some("payments")).is_ok());
/// assert_eq!(check_name(&id, Some("orders")).unwrap_err().field(), "name");
/// ```
pub fn check_name(running: &LayerId, name: Option<&str>) -> Result<(), crate::config::ConfigError> {
    match name {
        Some(name) => fixed("name", running.name(), name),
        None => Ok(()),
    }
}
