//! [`ServerContextLayer`] and [`ServerContextHandle`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::layer::{Bypass, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::LayerId;
use buttress_core::{Criticality, TrustPolicy};
use http::HeaderName;
use tower_layer::Layer;

use super::read::Settings;
use super::{ServerContext, ServerContextConfig, ServerContextLayerBuilder};
use crate::headers::{X_CORRELATION_ID, X_REQUEST_ID};
use crate::id::IdMode;

/// Fills the [`RequestContext`](buttress_core::RequestContext) of every
/// request and echoes its correlation ID; see the [module
/// documentation](super). Cloning shares the configuration.
#[derive(Clone)]
pub struct ServerContextLayer {
    settings: Arc<Settings>,
}

impl ServerContextLayer {
    /// A builder with the defaults: `x-request-id` (also accepting
    /// `x-correlation-id`), [`IdMode::Accept`], trusting nobody — so
    /// every request gets a fresh ID and no caller sets a deadline,
    /// criticality or fault until you give it a [`TrustPolicy`]. Its
    /// settings are a [`ServerContextConfig`], changed with
    /// [`configure`](LayerBuilder::configure).
    pub fn builder() -> ServerContextLayerBuilder {
        ServerContextLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &ServerContextConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    /// For a service facing the internet: always a fresh ID, nothing
    /// taken from the caller but its trace.
    ///
    /// ```
    /// use buttress_context::server::ServerContextLayer;
    /// let layer = ServerContextLayer::public();
    /// assert_eq!(layer.handle().id_mode(), buttress_context::id::IdMode::Generate);
    /// ```
    pub fn public() -> Self {
        Self::defaults(Self::builder().configure(|c| c.id_mode = IdMode::Generate))
    }

    /// For an internal service: accepts the ID, deadline, criticality and
    /// fault directive of callers `trust` trusts.
    pub fn internal(trust: TrustPolicy) -> Self {
        Self::defaults(Self::builder().trust(trust))
    }

    /// The defaults, with `x-request-id` as the ID header (tower-http's
    /// name for the same thing).
    pub fn x_request_id() -> Self {
        Self::defaults(Self::builder())
    }

    /// The defaults, with `x-correlation-id` as the ID header read first,
    /// echoed and forwarded, and `x-request-id` accepted after it.
    ///
    /// ```
    /// use buttress_context::server::ServerContextLayer;
    /// let layer = ServerContextLayer::x_correlation_id();
    /// assert_eq!(layer.handle().id_header(), "x-correlation-id");
    /// ```
    pub fn x_correlation_id() -> Self {
        // The two names swap places: one header may not be both the ID
        // header and another accepted one.
        Self::defaults(Self::builder().configure(|c| {
            c.id_header = X_CORRELATION_ID.as_str().into();
            c.also_accept = vec![X_REQUEST_ID.as_str().into()];
        }))
    }

    /// Builds a preset: the defaults with one setting no value of which
    /// fails validation.
    fn defaults(builder: ServerContextLayerBuilder) -> Self {
        builder
            .build()
            .unwrap_or_else(|_| unreachable!("the presets are valid"))
    }

    /// The handle that reads the layer's settings.
    pub fn handle(&self) -> ServerContextHandle {
        ServerContextHandle {
            settings: self.settings.clone(),
        }
    }

    pub(super) fn from_settings(settings: Settings) -> Self {
        ServerContextLayer {
            settings: Arc::new(settings),
        }
    }
}

impl<S> Layer<S> for ServerContextLayer {
    type Service = ServerContext<S>;

    fn layer(&self, inner: S) -> ServerContext<S> {
        ServerContext::new(inner, Some(self.settings.clone()))
    }
}

impl<S> Bypass<S> for ServerContextLayer {
    /// No context read, set or echoed.
    fn bypass(inner: S) -> ServerContext<S> {
        ServerContext::new(inner, None)
    }
}

impl std::fmt::Debug for ServerContextLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ServerContextLayer")
            .field(&self.handle())
            .finish()
    }
}

/// Reads a [`ServerContextLayer`]'s settings; from
/// [`ServerContextLayer::handle`].
///
/// ```
/// use buttress_context::server::{ServerContextConfig, ServerContextLayer};
/// use buttress_core::layer::LayerHandle;
/// use std::time::Duration;
///
/// let config = ServerContextConfig {
///     max_deadline: Some(Duration::from_secs(5)),
///     ..ServerContextConfig::default()
/// };
/// let layer = ServerContextLayer::from_config(&config).unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "context");
/// assert_eq!(handle.id_header(), "x-request-id");
/// assert_eq!(handle.max_deadline(), Some(Duration::from_secs(5)));
/// ```
#[derive(Clone)]
pub struct ServerContextHandle {
    settings: Arc<Settings>,
}

impl ServerContextHandle {
    /// The ID header: read first, echoed on responses.
    pub fn id_header(&self) -> &HeaderName {
        &self.settings.id_header
    }

    /// Whether trusted callers' IDs are kept or every request gets a
    /// fresh one.
    pub fn id_mode(&self) -> IdMode {
        self.settings.id_mode
    }

    /// Which callers are trusted.
    pub fn trust(&self) -> &TrustPolicy {
        &self.settings.trust
    }

    /// The longest deadline a caller may set, if capped.
    pub fn max_deadline(&self) -> Option<Duration> {
        self.settings.deadlines.max()
    }

    /// The deadline of requests that bring none, if any.
    pub fn default_deadline(&self) -> Option<Duration> {
        self.settings.deadlines.default()
    }

    /// Changes the longest deadline and the default one while the layer
    /// runs (a stack whose timeout changes bounds its deadlines anew);
    /// requests arriving from now on get them. Refused, changing nothing,
    /// when the default exceeds the longest.
    ///
    /// ```
    /// use buttress_context::{ServerContextConfig, ServerContextLayer};
    /// use std::time::Duration;
    ///
    /// let layer = ServerContextLayer::from_config(&ServerContextConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// handle.set_deadlines(Some(Duration::from_secs(2)), Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(handle.max_deadline(), Some(Duration::from_secs(2)));
    /// assert!(handle.set_deadlines(Some(Duration::from_secs(1)), Some(Duration::from_secs(2))).is_err());
    /// ```
    pub fn set_deadlines(
        &self,
        max: Option<Duration>,
        default: Option<Duration>,
    ) -> Result<(), ConfigError> {
        let check = ServerContextConfig {
            max_deadline: max,
            default_deadline: default,
            ..ServerContextConfig::default()
        };
        check.validate()?;
        self.settings.deadlines.set(max, default);
        Ok(())
    }

    /// The criticality of requests that set none.
    pub fn default_criticality(&self) -> Criticality {
        self.settings.default_criticality
    }
}

impl LayerHandle for ServerContextHandle {
    fn id(&self) -> &LayerId {
        self.settings.telemetry.layer()
    }
}

impl std::fmt::Debug for ServerContextHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("ServerContextHandle")
            .field("id", self.id())
            .field("id_header", &s.id_header)
            .field("id_mode", &s.id_mode)
            .field("trust", &s.trust)
            .field("max_deadline", &s.deadlines.max())
            .field("default_deadline", &s.deadlines.default())
            .finish_non_exhaustive()
    }
}
