//! [`ClientContextLayerBuilder`].

use buttress_core::layer::ConfigBuilder;

use super::ClientContextConfig;

/// Builds a [`ClientContextLayer`](super::ClientContextLayer). Every
/// setting is data, a [`ClientContextConfig`]: set it with
/// [`configure`](buttress_core::layer::LayerBuilder::configure) or
/// [`with_config`](buttress_core::layer::LayerBuilder::with_config), and
/// the name, sink and environment with the rest of
/// [`LayerBuilder`](buttress_core::layer::LayerBuilder).
/// [`build`](ConfigBuilder::build) validates.
///
/// ```
/// use buttress_context::client::{ClientContextConfig, ClientContextLayer};
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use std::time::Duration;
///
/// let layer = ClientContextLayer::builder()
///     .configure(|c| {
///         c.deadline_margin = Duration::from_millis(20);
///         c.propagate_fault = false;
///     })
///     .name("inventory")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "inventory");
/// assert!(!layer.handle().propagates_fault());
///
/// let too_long = ClientContextConfig {
///     deadline_margin: Duration::from_secs(120),
///     ..Default::default()
/// };
/// assert!(ClientContextLayer::builder().with_config(too_long).build().is_err());
/// ```
pub type ClientContextLayerBuilder = ConfigBuilder<ClientContextConfig>;
