//! [`ClientContextLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::inject::Settings;
use super::{ClientContext, ClientContextBuilder};
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
    /// `x-buttress-fault`.
    pub fn new() -> Self {
        Self::builder().build().expect("the defaults are valid")
    }

    /// A builder.
    pub fn builder() -> ClientContextBuilder {
        ClientContextBuilder::new()
    }

    /// The defaults, writing the ID as `x-request-id`.
    pub fn x_request_id() -> Self {
        Self::new()
    }

    /// The defaults, writing the ID as `x-correlation-id`.
    pub fn x_correlation_id() -> Self {
        Self::builder()
            .id_header(X_CORRELATION_ID)
            .build()
            .expect("the defaults are valid")
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
        ClientContext::new(inner, self.settings.clone())
    }
}

impl std::fmt::Debug for ClientContextLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("ClientContextLayer")
            .field("id_header", &s.id_header)
            .field("deadline_header", &s.deadline_header)
            .field("deadline_margin", &s.deadline_margin)
            .finish_non_exhaustive()
    }
}
