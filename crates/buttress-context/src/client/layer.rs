//! [`ClientContextLayer`] and [`ClientContextHandle`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::layer::{Bypass, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::LayerId;
use http::HeaderName;
use tower_layer::Layer;

use super::inject::Settings;
use super::{ClientContext, ClientContextConfig, ClientContextLayerBuilder};
use crate::headers::X_CORRELATION_ID;

/// Writes the current request's context onto outbound calls; see the
/// [module documentation](super). Cloning shares the configuration.
#[derive(Clone)]
pub struct ClientContextLayer {
    settings: Arc<Settings>,
}

impl ClientContextLayer {
    /// The defaults: `x-request-id`, `x-request-timeout-ms` (or
    /// `grpc-timeout`) less a 5 ms margin, `x-criticality`,
    /// `x-buttress-fault`; reports as `context` to the global sink.
    pub fn new() -> Self {
        Self::defaults(Self::builder())
    }

    /// A builder, to change the headers or the margin (its
    /// [`ClientContextConfig`], through
    /// [`configure`](LayerBuilder::configure)), name the layer or give it
    /// its own sink.
    pub fn builder() -> ClientContextLayerBuilder {
        ClientContextLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &ClientContextConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    /// The defaults, writing the ID as `x-request-id`.
    pub fn x_request_id() -> Self {
        Self::new()
    }

    /// The defaults, writing the ID as `x-correlation-id`.
    pub fn x_correlation_id() -> Self {
        Self::defaults(
            Self::builder().configure(|c| c.id_header = X_CORRELATION_ID.as_str().into()),
        )
    }

    /// Builds a preset: the defaults with one setting no value of which
    /// fails validation.
    fn defaults(builder: ClientContextLayerBuilder) -> Self {
        builder
            .build()
            .unwrap_or_else(|_| unreachable!("the presets are valid"))
    }

    /// The handle that reads the layer's settings.
    pub fn handle(&self) -> ClientContextHandle {
        ClientContextHandle {
            settings: self.settings.clone(),
        }
    }

    pub(super) fn from_settings(settings: Settings) -> Self {
        ClientContextLayer {
            settings: Arc::new(settings),
        }
    }
}

impl Default for ClientContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ClientContextLayer {
    type Service = ClientContext<S>;

    fn layer(&self, inner: S) -> ClientContext<S> {
        ClientContext::new(inner, Some(self.settings.clone()))
    }
}

/// Left out of a stack, the layer is its own service carrying nothing
/// outbound, at the cost of one branch rather than one more level of
/// future.
impl<S> Bypass<S> for ClientContextLayer {
    fn bypass(inner: S) -> ClientContext<S> {
        ClientContext::new(inner, None)
    }
}

impl std::fmt::Debug for ClientContextLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClientContextLayer")
            .field(&self.handle())
            .finish()
    }
}

/// Reads a [`ClientContextLayer`]'s settings; from
/// [`ClientContextLayer::handle`].
///
/// ```
/// use buttress_context::client::ClientContextLayer;
/// use buttress_core::layer::LayerHandle;
/// use std::time::Duration;
///
/// let handle = ClientContextLayer::x_correlation_id().handle();
/// assert_eq!(handle.id().name(), "context");
/// assert_eq!(handle.id_header(), "x-correlation-id");
/// assert_eq!(handle.deadline_margin(), Duration::from_millis(5));
/// ```
#[derive(Clone)]
pub struct ClientContextHandle {
    settings: Arc<Settings>,
}

impl ClientContextHandle {
    /// The header the ID is written as.
    pub fn id_header(&self) -> &HeaderName {
        &self.settings.id_header
    }

    /// The milliseconds header the deadline is written as on HTTP calls.
    pub fn deadline_header(&self) -> &HeaderName {
        &self.settings.deadline_header
    }

    /// Time kept back from the remaining deadline.
    pub fn deadline_margin(&self) -> Duration {
        self.settings.deadline_margin
    }

    /// Whether fault directives are forwarded.
    pub fn propagates_fault(&self) -> bool {
        self.settings.propagate_fault
    }
}

impl LayerHandle for ClientContextHandle {
    fn id(&self) -> &LayerId {
        self.settings.telemetry.layer()
    }
}

impl std::fmt::Debug for ClientContextHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("ClientContextHandle")
            .field("id", self.id())
            .field("id_header", &s.id_header)
            .field("deadline_header", &s.deadline_header)
            .field("deadline_margin", &s.deadline_margin)
            .finish_non_exhaustive()
    }
}
