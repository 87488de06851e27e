//! [`ServerContextLayer`].

use std::sync::Arc;

use buttress_core::TrustPolicy;
use tower_layer::Layer;

use super::read::Settings;
use super::{ServerContext, ServerContextBuilder};
use crate::headers::X_CORRELATION_ID;
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
    /// criticality or fault until you give it a [`TrustPolicy`].
    pub fn builder() -> ServerContextBuilder {
        ServerContextBuilder::new()
    }

    /// For a service facing the internet: always a fresh ID, nothing
    /// taken from the caller but its trace.
    ///
    /// ```
    /// use buttress_context::server::ServerContextLayer;
    /// let layer = ServerContextLayer::public();
    /// # drop(layer);
    /// ```
    pub fn public() -> Self {
        Self::builder()
            .id_mode(IdMode::Generate)
            .build()
            .expect("the defaults are valid")
    }

    /// For an internal service: accepts the ID, deadline, criticality and
    /// fault directive of callers `trust` trusts.
    pub fn internal(trust: TrustPolicy) -> Self {
        Self::builder()
            .trust(trust)
            .build()
            .expect("the defaults are valid")
    }

    /// The defaults, with `x-request-id` as the ID header (tower-http's
    /// name for the same thing).
    pub fn x_request_id() -> Self {
        Self::builder().build().expect("the defaults are valid")
    }

    /// The defaults, with `x-correlation-id` as the ID header read first,
    /// echoed and forwarded.
    pub fn x_correlation_id() -> Self {
        Self::builder()
            .id_header(X_CORRELATION_ID)
            .build()
            .expect("the defaults are valid")
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
        ServerContext::new(inner, self.settings.clone())
    }
}

impl std::fmt::Debug for ServerContextLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("ServerContextLayer")
            .field("id_header", &s.id_header)
            .field("id_mode", &s.id_mode)
            .field("trust", &s.trust)
            .field("max_deadline", &s.max_deadline)
            .field("default_deadline", &s.default_deadline)
            .finish_non_exhaustive()
    }
}
