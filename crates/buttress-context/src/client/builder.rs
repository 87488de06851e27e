//! [`ClientContextBuilder`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};
use http::HeaderName;

use super::ClientContextLayer;
use super::inject::Settings;
use crate::headers::{X_BUTTRESS_FAULT, X_CRITICALITY, X_REQUEST_ID, X_REQUEST_TIMEOUT_MS};
use crate::server::check_distinct;

/// Builds a [`ClientContextLayer`]; [`build`](Self::build) validates.
///
/// ```
/// use buttress_context::client::ClientContextLayer;
/// use std::time::Duration;
///
/// let layer = ClientContextLayer::builder()
///     .deadline_margin(Duration::from_millis(20))
///     .propagate_fault(false)
///     .name("inventory")
///     .build()
///     .unwrap();
/// # drop(layer);
/// assert!(ClientContextLayer::builder().deadline_margin(Duration::from_secs(120)).build().is_err());
/// ```
pub struct ClientContextBuilder {
    id_header: HeaderName,
    deadline_header: HeaderName,
    deadline_margin: Duration,
    criticality_header: HeaderName,
    fault_header: HeaderName,
    propagate_fault: bool,
    name: Arc<str>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl ClientContextBuilder {
    /// The largest margin a configuration may set.
    pub const MAX_MARGIN: Duration = Duration::from_secs(60);

    /// The defaults (see [`ClientContextLayer::new`]).
    pub fn new() -> Self {
        ClientContextBuilder {
            id_header: X_REQUEST_ID,
            deadline_header: X_REQUEST_TIMEOUT_MS,
            deadline_margin: Duration::from_millis(5),
            criticality_header: X_CRITICALITY,
            fault_header: X_BUTTRESS_FAULT,
            propagate_fault: true,
            name: Arc::from("context"),
            sink: None,
        }
    }

    /// The header the ID is written as (default `x-request-id`).
    pub fn id_header(mut self, name: HeaderName) -> Self {
        self.id_header = name;
        self
    }

    /// The milliseconds header the deadline is written as on HTTP calls
    /// (default `x-request-timeout-ms`; gRPC calls use `grpc-timeout`).
    pub fn deadline_header(mut self, name: HeaderName) -> Self {
        self.deadline_header = name;
        self
    }

    /// Time kept back from the remaining deadline for the answer's trip
    /// back (default 5 ms, at most 60 s). Zero is allowed.
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// The criticality header (default `x-criticality`).
    pub fn criticality_header(mut self, name: HeaderName) -> Self {
        self.criticality_header = name;
        self
    }

    /// The fault directive header (default `x-buttress-fault`).
    pub fn fault_header(mut self, name: HeaderName) -> Self {
        self.fault_header = name;
        self
    }

    /// Whether a fault directive in the context is forwarded (default
    /// yes; turn off for calls leaving your system).
    pub fn propagate_fault(mut self, propagate: bool) -> Self {
        self.propagate_fault = propagate;
        self
    }

    /// The name the layer reports under (default `context`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reports to `sink` instead of the global sink.
    pub fn sink(mut self, sink: Arc<dyn TelemetrySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Validates and builds the layer.
    pub fn build(self) -> Result<ClientContextLayer, ConfigError> {
        if self.deadline_margin > Self::MAX_MARGIN {
            return Err(ConfigError::new("deadline_margin", "must be at most 60s"));
        }
        check_distinct(
            [
                ("id_header", &self.id_header),
                ("deadline_header", &self.deadline_header),
                ("criticality_header", &self.criticality_header),
                ("fault_header", &self.fault_header),
            ]
            .into_iter(),
        )?;
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Context, self.name),
            None => Telemetry::register(LayerKind::Context, self.name),
        };
        Ok(ClientContextLayer::from_settings(Settings {
            id_header: self.id_header,
            deadline_header: self.deadline_header,
            deadline_margin: self.deadline_margin,
            criticality_header: self.criticality_header,
            fault_header: self.fault_header,
            propagate_fault: self.propagate_fault,
            telemetry,
        }))
    }
}

impl Default for ClientContextBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ClientContextBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContextBuilder")
            .field("id_header", &self.id_header)
            .field("deadline_margin", &self.deadline_margin)
            .finish_non_exhaustive()
    }
}
