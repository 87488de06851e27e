//! [`ServerContextConfig`]: the server layer as data (feature `serde`).

use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::{Criticality, TrustPolicy};
use http::HeaderName;
use serde::{Deserialize, Serialize};

use super::{ServerContextBuilder, ServerContextLayer};
use crate::id::{IdFormat, IdMode, IdRules};

/// Which callers a server trusts, as data.
///
/// ```
/// use buttress_context::server::TrustConfig;
/// # #[derive(serde::Deserialize)] struct T { trust: TrustConfig }
/// # let _ = |t: T| t.trust;
/// // trust = "never" | "always" | { peers = ["10.0.0.0/8"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustConfig {
    /// Trust nobody (the default).
    #[default]
    Never,
    /// Trust every caller (behind a mesh that strips these headers).
    Always,
    /// Trust callers whose peer address is in one of these networks.
    Peers(Vec<String>),
}

impl TrustConfig {
    fn policy(&self) -> Result<TrustPolicy, ConfigError> {
        match self {
            TrustConfig::Never => Ok(TrustPolicy::never()),
            TrustConfig::Always => Ok(TrustPolicy::always()),
            TrustConfig::Peers(nets) => TrustPolicy::peers(nets).map_err(|_| {
                ConfigError::new("trust.peers", "expected IP addresses or CIDR networks")
            }),
        }
    }
}

/// The [`ServerContextLayer`] settings as data, with human durations
/// (`"250ms"`), so a stack loads from TOML. Missing fields keep the
/// defaults.
///
/// ```
/// use buttress_context::server::{ServerContextConfig, TrustConfig};
/// use std::time::Duration;
///
/// let config = ServerContextConfig {
///     trust: TrustConfig::Peers(vec!["10.0.0.0/8".into()]),
///     max_deadline: Some(Duration::from_secs(5)),
///     default_criticality: "SHEDDABLE_PLUS".into(),
///     ..ServerContextConfig::default()
/// };
/// let layer = config.build().unwrap();
/// # drop(layer);
/// let bad = ServerContextConfig { default_criticality: "urgent".into(), ..Default::default() };
/// assert_eq!(bad.build().unwrap_err().field(), "default_criticality");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerContextConfig {
    /// The telemetry name.
    pub name: String,
    /// The ID header.
    pub id_header: String,
    /// Other headers an ID is accepted from.
    pub also_accept: Vec<String>,
    /// `accept` or `generate`.
    pub id_mode: IdMode,
    /// `uuid_v7` or `uuid_v4`.
    pub id_format: IdFormat,
    /// The longest accepted ID, in bytes.
    pub id_max_len: usize,
    /// Characters accepted in an ID beyond `[A-Za-z0-9._:-]`.
    pub id_extra_chars: String,
    /// Which callers are trusted.
    pub trust: TrustConfig,
    /// The milliseconds deadline header.
    pub deadline_header: String,
    /// The longest deadline a caller may set.
    #[serde(with = "humantime_serde")]
    pub max_deadline: Option<Duration>,
    /// The deadline of requests that bring none.
    #[serde(with = "humantime_serde")]
    pub default_deadline: Option<Duration>,
    /// The criticality header.
    pub criticality_header: String,
    /// The default criticality (`CRITICAL`, `SHEDDABLE`, …).
    pub default_criticality: String,
    /// The fault directive header.
    pub fault_header: String,
    /// The longest fault directive carried; absent to carry none.
    pub max_fault_len: Option<usize>,
    /// Whether new traces are marked sampled.
    pub sample_new_traces: bool,
}

impl Default for ServerContextConfig {
    fn default() -> Self {
        ServerContextConfig {
            name: "context".into(),
            id_header: crate::headers::X_REQUEST_ID.as_str().into(),
            also_accept: vec![crate::headers::X_CORRELATION_ID.as_str().into()],
            id_mode: IdMode::Accept,
            id_format: IdFormat::UuidV7,
            id_max_len: IdRules::new().get_max_len(),
            id_extra_chars: String::new(),
            trust: TrustConfig::Never,
            deadline_header: crate::headers::X_REQUEST_TIMEOUT_MS.as_str().into(),
            max_deadline: None,
            default_deadline: None,
            criticality_header: crate::headers::X_CRITICALITY.as_str().into(),
            default_criticality: Criticality::default().as_str().into(),
            fault_header: crate::headers::X_BUTTRESS_FAULT.as_str().into(),
            max_fault_len: Some(256),
            sample_new_traces: false,
        }
    }
}

pub(crate) fn header(field: &'static str, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConfigError::new(field, "not a valid header name"))
}

impl ServerContextConfig {
    /// A builder holding these settings, to add what data cannot say
    /// (a custom ID maker, a trust predicate, a telemetry sink).
    pub fn builder(&self) -> Result<ServerContextBuilder, ConfigError> {
        let criticality = Criticality::parse(self.default_criticality.as_bytes())
            .ok_or_else(|| ConfigError::new("default_criticality", "unknown criticality"))?;
        let mut builder = ServerContextLayer::builder()
            .name(self.name.as_str())
            .id_header(header("id_header", &self.id_header)?)
            .also_accept(
                self.also_accept
                    .iter()
                    .map(|name| header("also_accept", name))
                    .collect::<Result<Vec<_>, _>>()?,
            )
            .id_mode(self.id_mode)
            .make_id(self.id_format)
            .id_rules(
                IdRules::new()
                    .max_len(self.id_max_len)
                    .also_allow(&self.id_extra_chars)?,
            )
            .trust(self.trust.policy()?)
            .deadline_header(header("deadline_header", &self.deadline_header)?)
            .criticality_header(header("criticality_header", &self.criticality_header)?)
            .default_criticality(criticality)
            .fault_header(header("fault_header", &self.fault_header)?)
            .max_fault_len(self.max_fault_len)
            .sample_new_traces(self.sample_new_traces);
        if let Some(max) = self.max_deadline {
            builder = builder.max_deadline(max);
        }
        if let Some(default) = self.default_deadline {
            builder = builder.default_deadline(default);
        }
        Ok(builder)
    }

    /// Validates and builds the layer.
    pub fn build(&self) -> Result<ServerContextLayer, ConfigError> {
        self.builder()?.build()
    }
}
