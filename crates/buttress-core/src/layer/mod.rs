//! The contract every Buttress layer keeps: built, configured and
//! observed the same way.
//!
//! - **Configuration is data.** Each layer has a `FooConfig`: plain
//!   fields with documented defaults, `name: Option<String>`, and
//!   `Serialize`/`Deserialize` with
//!   `deny_unknown_fields` and human durations. It implements
//!   [`LayerConfig`], which validates it and builds the layer in a
//!   [`BuildEnv`].
//! - **One builder shape.** `FooLayer::builder()` returns a builder whose
//!   settings are its config — `.configure(|c| ..)`, `.with_config(..)`,
//!   `.name(..)`, `.sink(..)` and `.env(..)` come from [`LayerBuilder`],
//!   the same for every layer — plus only what is not data:
//!   `.classifier(..)` where the layer judges outcomes, key closures,
//!   custom algorithms. `.build()` returns
//!   `Result<FooLayer, ConfigError>`; `FooLayer::from_config(&config)`
//!   builds from data alone. No constructor panics.
//! - **One name rule.** A layer reports under its config's `name`, else
//!   the name of the [`BuildEnv`] it is built in (a stack's or service's
//!   name), else its kind (`breaker`, `timeout`, …): see
//!   [`BuildEnv::name_for`].
//! - **One default classifier**: [`DefaultClassifier`], which judges a
//!   response by its `grpc-status` when it carries one and by its HTTP
//!   status otherwise (5xx and 429 fail).
//! - **One handle shape.** `layer.handle()` returns a `FooHandle`, cheap to
//!   clone, that reads the layer's state and gauges (and, where the layer
//!   supports it, changes settings at run time); every handle implements
//!   [`LayerHandle`].
//!
//! ```
//! use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig, LayerHandle};
//! use buttress_core::telemetry::RecordingSink;
//! use buttress_core::timeout::{TimeoutConfig, TimeoutLayer};
//! use std::time::Duration;
//!
//! // In code: the builder.
//! let layer = TimeoutLayer::builder()
//!     .configure(|c| c.limit = Some(Duration::from_secs(2)))
//!     .name("inventory")
//!     .build()
//!     .unwrap();
//! assert_eq!(layer.handle().id().name(), "inventory");
//!
//! // From data: the config, built in a service's environment.
//! let config = TimeoutConfig { limit: Some(Duration::from_secs(2)), ..TimeoutConfig::default() };
//! let env = BuildEnv::named("checkout").with_sink(RecordingSink::new());
//! let layer = config.build_in(&env).unwrap();
//! assert_eq!(layer.handle().id().name(), "checkout");
//! ```

mod builder;
mod bypass;
mod env;
mod handle;

pub use self::builder::{ConfigBuilder, LayerBuilder};
pub use self::bypass::Bypass;
pub use self::env::BuildEnv;
pub use self::handle::{LayerHandle, Reconfigure, check_name, fixed};
pub use crate::classify::HttpOrGrpcClassifier as DefaultClassifier;
use crate::config::ConfigError;

/// A layer's configuration as data: validated, and built into the layer
/// in a [`BuildEnv`].
///
/// The stacks hold every layer's config behind this trait, so adding a
/// layer to a stack is one field.
pub trait LayerConfig {
    /// The layer this config builds, with the default classifier where the
    /// layer has one.
    type Layer;

    /// Checks every field, naming the first one at fault. `build_in`
    /// calls it; a loader calls it to fail before building anything.
    fn validate(&self) -> Result<(), ConfigError>;

    /// The `name` field, which every config has: `None` takes the
    /// environment's name, else the layer's kind.
    fn name_mut(&mut self) -> &mut Option<String>;

    /// Validates and builds the layer, registering its telemetry under the
    /// name [`BuildEnv::name_for`] gives.
    fn build_in(&self, env: &BuildEnv) -> Result<Self::Layer, ConfigError>;

    /// Builds the layer in the default environment: its own or its kind's
    /// name, the global telemetry sink.
    fn build(&self) -> Result<Self::Layer, ConfigError> {
        self.build_in(&BuildEnv::default())
    }
}
