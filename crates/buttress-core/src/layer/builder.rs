//! [`LayerBuilder`]: what every layer's builder shares.

use super::{BuildEnv, LayerConfig};
use crate::telemetry::TelemetrySink;

/// The part of every layer's builder that is the same for all: its
/// settings, which are its config (data), and its name and telemetry
/// sink. A builder adds only what is not data — a classifier, a key
/// closure, a custom algorithm — and its `build()`.
///
/// Each builder implements the two required methods and gets the rest
/// spelled and behaving the same everywhere. In scope through
/// `buttress::prelude::*`.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_core::timeout::{TimeoutConfig, TimeoutLayer};
/// use std::time::Duration;
///
/// let sink = RecordingSink::new();
/// let layer = TimeoutLayer::builder()
///     .configure(|c| c.limit = Some(Duration::from_secs(2)))
///     .name("search")
///     .sink(sink.clone())
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "search");
/// assert_eq!(layer.handle().limit(), Some(Duration::from_secs(2)));
///
/// // Or a whole config at once, as loaded from a file:
/// let config = TimeoutConfig { limit: Some(Duration::from_secs(1)), ..TimeoutConfig::default() };
/// let builder = TimeoutLayer::builder().with_config(config.clone());
/// assert_eq!(builder.config(), &config);
/// ```
pub trait LayerBuilder: Sized {
    /// The layer's config: every setting that is data.
    type Config: LayerConfig;

    /// The config built so far.
    fn config(&self) -> &Self::Config;

    /// The config and the environment the layer will be built in: what
    /// the provided methods write to.
    fn parts_mut(&mut self) -> (&mut Self::Config, &mut BuildEnv);

    /// Replaces every setting with `config` (loaded from a file, say).
    fn with_config(mut self, config: Self::Config) -> Self {
        *self.parts_mut().0 = config;
        self
    }

    /// Changes settings in place: `.configure(|c| c.wait = Duration::from_secs(5))`.
    fn configure(mut self, change: impl FnOnce(&mut Self::Config)) -> Self {
        change(self.parts_mut().0);
        self
    }

    /// The name the layer reports under (default: the environment's name,
    /// else the layer's kind).
    fn name(mut self, name: impl Into<String>) -> Self {
        *self.parts_mut().0.name_mut() = Some(name.into());
        self
    }

    /// Reports to `sink` rather than to the process-wide sink; an
    /// `Arc<dyn TelemetrySink>` shares one sink among many layers.
    fn sink(mut self, sink: impl TelemetrySink) -> Self {
        self.parts_mut().1.set_sink(sink);
        self
    }

    /// Builds in `env`: a stack's or service's name and sink.
    fn env(mut self, env: BuildEnv) -> Self {
        *self.parts_mut().1 = env;
        self
    }
}

/// The builder of a layer whose every setting is data: its config and the
/// environment it is built in, nothing more. A layer with nothing
/// builder-only (no classifier, no closure) names it as its builder, e.g.
/// `pub type ChaosLayerBuilder = ConfigBuilder<ChaosConfig>;`.
///
/// ```
/// use buttress_core::layer::{ConfigBuilder, LayerBuilder, LayerHandle};
/// use buttress_core::timeout::TimeoutConfig;
/// use std::time::Duration;
///
/// let layer = ConfigBuilder::<TimeoutConfig>::default()
///     .configure(|c| c.limit = Some(Duration::from_secs(1)))
///     .name("search")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "search");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder<C> {
    config: C,
    env: BuildEnv,
}

impl<C: LayerConfig> LayerBuilder for ConfigBuilder<C> {
    type Config = C;

    fn config(&self) -> &C {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut C, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<C: LayerConfig> ConfigBuilder<C> {
    /// Validates the config and builds the layer in the environment,
    /// registering it with telemetry.
    pub fn build(self) -> Result<C::Layer, crate::config::ConfigError> {
        self.config.build_in(&self.env)
    }
}
