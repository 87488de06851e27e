//! [`ClientContextConfig`]: the client layer as data (feature `serde`).

use std::time::Duration;

use buttress_core::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::{ClientContextBuilder, ClientContextLayer};
use crate::server::config::header;

/// The [`ClientContextLayer`] settings as data. Missing fields keep the
/// defaults.
///
/// ```
/// use buttress_context::client::ClientContextConfig;
/// use std::time::Duration;
///
/// let config = ClientContextConfig { deadline_margin: Duration::from_millis(20), ..Default::default() };
/// let layer = config.build().unwrap();
/// # drop(layer);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientContextConfig {
    /// The telemetry name.
    pub name: String,
    /// The ID header.
    pub id_header: String,
    /// The milliseconds deadline header for HTTP calls.
    pub deadline_header: String,
    /// Time kept back from the remaining deadline.
    #[serde(with = "humantime_serde")]
    pub deadline_margin: Duration,
    /// The criticality header.
    pub criticality_header: String,
    /// The fault directive header.
    pub fault_header: String,
    /// Whether fault directives are forwarded.
    pub propagate_fault: bool,
}

impl Default for ClientContextConfig {
    fn default() -> Self {
        ClientContextConfig {
            name: "context".into(),
            id_header: crate::headers::X_REQUEST_ID.as_str().into(),
            deadline_header: crate::headers::X_REQUEST_TIMEOUT_MS.as_str().into(),
            deadline_margin: Duration::from_millis(5),
            criticality_header: crate::headers::X_CRITICALITY.as_str().into(),
            fault_header: crate::headers::X_BUTTRESS_FAULT.as_str().into(),
            propagate_fault: true,
        }
    }
}

impl ClientContextConfig {
    /// A builder holding these settings.
    pub fn builder(&self) -> Result<ClientContextBuilder, ConfigError> {
        Ok(ClientContextLayer::builder()
            .name(self.name.as_str())
            .id_header(header("id_header", &self.id_header)?)
            .deadline_header(header("deadline_header", &self.deadline_header)?)
            .deadline_margin(self.deadline_margin)
            .criticality_header(header("criticality_header", &self.criticality_header)?)
            .fault_header(header("fault_header", &self.fault_header)?)
            .propagate_fault(self.propagate_fault))
    }

    /// Validates and builds the layer.
    pub fn build(&self) -> Result<ClientContextLayer, ConfigError> {
        self.builder()?.build()
    }
}
