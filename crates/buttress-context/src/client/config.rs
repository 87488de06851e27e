//! [`ClientContextConfig`]: the client layer's settings as data.

use std::time::Duration;

use buttress_core::config::{ConfigError, check_duration};
use buttress_core::layer::{BuildEnv, LayerConfig};
use buttress_core::telemetry::LayerKind;
use http::HeaderName;

use super::ClientContextLayer;
use super::inject::Settings;
use crate::headers::{
    X_BUTTRESS_FAULT, X_CRITICALITY, X_REQUEST_ID, X_REQUEST_TIMEOUT_MS, check_distinct, parse_name,
};

/// The [`ClientContextLayer`]'s settings as data. It loads from TOML or
/// JSON, durations written as `"20ms"`;
/// missing fields keep the defaults.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `context` | what it reports under |
/// | `id_header` | `x-request-id` | the header the ID is written as |
/// | `deadline_header` | `x-request-timeout-ms` | the milliseconds deadline header of HTTP calls (gRPC calls use `grpc-timeout`) |
/// | `deadline_margin` | 5 ms | time kept back from the remaining deadline for the answer's trip back, 0 to 60 s |
/// | `criticality_header` | `x-criticality` | the criticality header |
/// | `fault_header` | `x-buttress-fault` | the fault directive header |
/// | `propagate_fault` | `true` | whether the context's fault directive is forwarded (one already on the request, copied from a caller, never is) |
///
/// ```
/// use buttress_context::client::{ClientContextConfig, ClientContextLayer};
/// use buttress_core::layer::LayerConfig;
/// use std::time::Duration;
///
/// let config = ClientContextConfig { deadline_margin: Duration::from_millis(20), ..Default::default() };
/// let layer = ClientContextLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().deadline_margin(), Duration::from_millis(20));
///
/// let bad = ClientContextConfig { deadline_margin: Duration::from_secs(120), ..Default::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), "deadline_margin");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientContextConfig {
    /// The name the layer reports under.
    pub name: Option<String>,
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

impl ClientContextConfig {
    /// The largest margin a configuration may set.
    pub const MAX_MARGIN: Duration = Duration::from_secs(60);

    /// Checks every field; the header names parsed, in the order
    /// `[id, deadline, criticality, fault]`.
    fn parse(&self) -> Result<[HeaderName; 4], ConfigError> {
        check_duration(
            "deadline_margin",
            self.deadline_margin,
            Duration::ZERO..=Self::MAX_MARGIN,
        )?;
        let names = [
            parse_name("id_header", &self.id_header)?,
            parse_name("deadline_header", &self.deadline_header)?,
            parse_name("criticality_header", &self.criticality_header)?,
            parse_name("fault_header", &self.fault_header)?,
        ];
        let fields = [
            "id_header",
            "deadline_header",
            "criticality_header",
            "fault_header",
        ];
        check_distinct(fields.into_iter().zip(&names))?;
        Ok(names)
    }
}

impl Default for ClientContextConfig {
    fn default() -> Self {
        ClientContextConfig {
            name: None,
            id_header: X_REQUEST_ID.as_str().into(),
            deadline_header: X_REQUEST_TIMEOUT_MS.as_str().into(),
            deadline_margin: Duration::from_millis(5),
            criticality_header: X_CRITICALITY.as_str().into(),
            fault_header: X_BUTTRESS_FAULT.as_str().into(),
            propagate_fault: true,
        }
    }
}

impl LayerConfig for ClientContextConfig {
    type Layer = ClientContextLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.parse().map(drop)
    }

    fn build_in(&self, env: &BuildEnv) -> Result<ClientContextLayer, ConfigError> {
        let [id_header, deadline_header, criticality_header, fault_header] = self.parse()?;
        Ok(ClientContextLayer::from_settings(Settings {
            id_header,
            deadline_header,
            deadline_margin: self.deadline_margin,
            criticality_header,
            fault_header,
            propagate_fault: self.propagate_fault,
            telemetry: env.telemetry(LayerKind::Context, self.name.as_deref()),
        }))
    }
}
