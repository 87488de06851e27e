//! [`LayerBuilder`]: the setters every layer's builder shares.

use super::BuildEnv;
use crate::telemetry::TelemetrySink;

/// The part of every layer's builder that is the same for all: its name
/// and where its telemetry goes. Each builder implements the one required
/// method and gets `.name(..)`, `.sink(..)` and `.env(..)` spelled and
/// behaving the same everywhere; its own settings, `.config()` and
/// `.build()` are its inherent methods. In scope through
/// `buttress::prelude::*`.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::{Event, RecordingSink};
/// use buttress_core::timeout::TimeoutLayer;
///
/// let sink = RecordingSink::new();
/// let layer = TimeoutLayer::builder().name("search").sink(sink.clone()).build().unwrap();
/// assert_eq!(layer.handle().id().name(), "search");
/// ```
pub trait LayerBuilder: Sized {
    /// The config's `name` field and the environment the layer is built
    /// in: what the shared setters write to.
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv);

    /// The name the layer reports under (default: the environment's name,
    /// else the layer's kind).
    fn name(mut self, name: impl Into<String>) -> Self {
        *self.name_and_env().0 = Some(name.into());
        self
    }

    /// Reports to `sink` rather than to the process-wide sink; an
    /// `Arc<dyn TelemetrySink>` shares one sink among many layers.
    fn sink(mut self, sink: impl TelemetrySink) -> Self {
        self.name_and_env().1.set_sink(sink);
        self
    }

    /// Builds in `env`: a stack's or service's name and sink.
    fn env(mut self, env: BuildEnv) -> Self {
        *self.name_and_env().1 = env;
        self
    }
}
