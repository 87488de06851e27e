//! [`ChaosLayerBuilder`].

use buttress_core::layer::ConfigBuilder;

use crate::config::ChaosConfig;

/// Builds a [`ChaosLayer`](crate::ChaosLayer). Every setting is data, a
/// [`ChaosConfig`]: set it with
/// [`configure`](buttress_core::layer::LayerBuilder::configure) or
/// [`with_config`](buttress_core::layer::LayerBuilder::with_config), and
/// the dependency's name (the one fault directives use), sink and
/// environment with the rest of
/// [`LayerBuilder`](buttress_core::layer::LayerBuilder). Nothing is
/// injected unless configured: no rate, no header directives.
/// [`build`](ConfigBuilder::build) validates and registers the layer with
/// telemetry as `chaos/<name>`.
///
/// ```
/// use buttress_chaos::{AbortConfig, ChaosLayer, DelayConfig, Latency};
/// use buttress_core::context::FaultAbort;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use std::time::Duration;
///
/// let layer = ChaosLayer::builder()
///     .name("payments")
///     .configure(|c| {
///         c.abort = Some(AbortConfig {
///             percent: 2.0,
///             with: FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE),
///         });
///         c.delay = Some(DelayConfig {
///             percent: 10.0,
///             latency: Latency::uniform(Duration::from_millis(50), Duration::from_millis(250)),
///         });
///         c.seed = Some(42);
///         c.max_active = 50;
///     })
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// let err = ChaosLayer::builder()
///     .configure(|c| c.abort = Some(AbortConfig { percent: 120.0, with: FaultAbort::Transport }))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "abort.percent");
/// ```
pub type ChaosLayerBuilder = ConfigBuilder<ChaosConfig>;
