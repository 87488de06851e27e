//! [`ServerContextConfig`]: the server layer's settings as data.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerConfig};
use buttress_core::telemetry::LayerKind;
use buttress_core::{Criticality, TrustPolicy};
use http::{HeaderName, HeaderValue};

use super::ServerContextLayer;
use super::read::{Deadlines, Settings};
use crate::headers::{
    X_BUTTRESS_FAULT, X_CORRELATION_ID, X_CRITICALITY, X_REQUEST_ID, X_REQUEST_TIMEOUT_MS,
    check_distinct, parse_name,
};
use crate::id::{IdFormat, IdMode, IdRules, MakeCorrelationId};

/// The longest fault directive a configuration may allow.
const FAULT_LEN_LIMIT: usize = 4096;

/// Which callers a server trusts, as data: the policies a configuration
/// file can state. A [`TrustPolicy`] built in code (a predicate, say) goes
/// to [`ServerContextLayerBuilder::trust`](super::ServerContextLayerBuilder::trust)
/// instead.
///
/// ```
/// use buttress_context::server::{ServerContextConfig, TrustConfig};
///
/// // trust = "never" | "always" | { peers = [..] } | { header = { name = .., value = .. } }
/// let config: ServerContextConfig = toml::from_str(r#"trust = { peers = ["10.0.0.0/8"] }"#).unwrap();
/// assert_eq!(config.trust, TrustConfig::Peers(vec!["10.0.0.0/8".into()]));
/// let config: ServerContextConfig =
///     toml::from_str(r#"trust = { header = { name = "x-gateway", value = "s3cret" } }"#).unwrap();
/// assert!(matches!(config.trust, TrustConfig::Header { .. }));
/// ```
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustConfig {
    /// Trust nobody (the default).
    #[default]
    Never,
    /// Trust every caller (behind a mesh that strips these headers).
    Always,
    /// Trust callers whose peer address is in one of these networks
    /// (addresses or CIDR networks).
    Peers(Vec<String>),
    /// Trust requests carrying the header `name: value`, which your
    /// gateway sets and strips from outside callers.
    Header {
        /// The header's name.
        name: String,
        /// Its value: a shared secret.
        value: String,
    },
}

impl TrustConfig {
    /// The policy this describes; the error names the field at fault.
    pub fn policy(&self) -> Result<TrustPolicy, ConfigError> {
        match self {
            TrustConfig::Never => Ok(TrustPolicy::never()),
            TrustConfig::Always => Ok(TrustPolicy::always()),
            TrustConfig::Peers(nets) => TrustPolicy::peers(nets).map_err(|_| {
                ConfigError::new("trust.peers", "expected IP addresses or CIDR networks")
            }),
            TrustConfig::Header { name, value } => {
                let name = parse_name("trust.header.name", name)?;
                let value = HeaderValue::from_str(value).map_err(|_| {
                    ConfigError::new("trust.header.value", "not a valid header value")
                })?;
                Ok(TrustPolicy::header(name, value))
            }
        }
    }
}

impl fmt::Debug for TrustConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustConfig::Never => f.write_str("Never"),
            TrustConfig::Always => f.write_str("Always"),
            TrustConfig::Peers(nets) => f.debug_tuple("Peers").field(nets).finish(),
            // The value is a secret: kept out of logs.
            TrustConfig::Header { name, .. } => f
                .debug_struct("Header")
                .field("name", name)
                .field("value", &"<redacted>")
                .finish(),
        }
    }
}

/// The [`ServerContextLayer`]'s settings as data. It loads from TOML or
/// JSON, durations written as `"250ms"`;
/// missing fields keep the defaults.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `context` | what it reports under |
/// | `id_header` | `x-request-id` | the ID header: read first, echoed on responses |
/// | `also_accept` | `["x-correlation-id"]` | other headers an ID is accepted from, in order |
/// | `id_mode` | `accept` | keep a trusted caller's ID (`accept`) or always make one (`generate`) |
/// | `id_format` | `uuid_v7` | how fresh IDs are made (`uuid_v7`, `uuid_v4`) |
/// | `id_max_len` | 128 | the longest accepted ID, 1 to 256 bytes |
/// | `id_extra_chars` | none | bytes accepted in an ID beyond `[A-Za-z0-9._:-]` |
/// | `trust` | `never` | which callers may set the ID, deadline, criticality and fault |
/// | `deadline_header` | `x-request-timeout-ms` | the milliseconds deadline header (`grpc-timeout` is always read) |
/// | `max_deadline` | none | the longest deadline a caller may set, up to 1 day |
/// | `default_deadline` | none | the deadline of requests that bring none, at most `max_deadline` |
/// | `criticality_header` | `x-criticality` | the criticality header |
/// | `default_criticality` | `CRITICAL` | the criticality of requests that set none |
/// | `fault_header` | `x-buttress-fault` | the fault directive header |
/// | `max_fault_len` | 256 | the longest fault directive carried, 1 to 4096; none carries none |
/// | `sample_new_traces` | `false` | whether traces this server starts are marked sampled |
///
/// ```
/// use buttress_context::server::{ServerContextConfig, ServerContextLayer, TrustConfig};
/// use buttress_core::layer::LayerConfig;
/// use std::time::Duration;
///
/// let config = ServerContextConfig {
///     trust: TrustConfig::Peers(vec!["10.0.0.0/8".into()]),
///     max_deadline: Some(Duration::from_secs(5)),
///     default_criticality: "SHEDDABLE_PLUS".into(),
///     ..ServerContextConfig::default()
/// };
/// let layer = ServerContextLayer::from_config(&config).unwrap();
/// # drop(layer);
/// let bad = ServerContextConfig { default_criticality: "urgent".into(), ..Default::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), "default_criticality");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerContextConfig {
    /// The name the layer reports under.
    pub name: Option<String>,
    /// The ID header.
    pub id_header: String,
    /// Other headers an ID is accepted from.
    pub also_accept: Vec<String>,
    /// `accept` or `generate`.
    pub id_mode: IdMode,
    /// `uuid_v7` or `uuid_v4`; a builder's
    /// [`make_id`](super::ServerContextLayerBuilder::make_id) takes its place.
    pub id_format: IdFormat,
    /// The longest accepted ID, in bytes.
    pub id_max_len: usize,
    /// Characters accepted in an ID beyond `[A-Za-z0-9._:-]`.
    pub id_extra_chars: String,
    /// Which callers are trusted; a builder's
    /// [`trust`](super::ServerContextLayerBuilder::trust) takes its place.
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
    /// The longest fault directive carried; `None` carries none.
    pub max_fault_len: Option<usize>,
    /// Whether new traces are marked sampled.
    pub sample_new_traces: bool,
}

impl Default for ServerContextConfig {
    fn default() -> Self {
        ServerContextConfig {
            name: None,
            id_header: X_REQUEST_ID.as_str().into(),
            also_accept: vec![X_CORRELATION_ID.as_str().into()],
            id_mode: IdMode::Accept,
            id_format: IdFormat::UuidV7,
            id_max_len: IdRules::new().get_max_len(),
            id_extra_chars: String::new(),
            trust: TrustConfig::Never,
            deadline_header: X_REQUEST_TIMEOUT_MS.as_str().into(),
            max_deadline: None,
            default_deadline: None,
            criticality_header: X_CRITICALITY.as_str().into(),
            default_criticality: Criticality::default().as_str().into(),
            fault_header: X_BUTTRESS_FAULT.as_str().into(),
            max_fault_len: Some(256),
            sample_new_traces: false,
        }
    }
}

/// What building adds to a config: what data cannot say.
#[derive(Default)]
pub(super) struct Extras {
    /// A policy built in code, in place of the config's `trust`.
    pub(super) trust: Option<TrustPolicy>,
    /// A custom ID maker, in place of the config's `id_format`.
    pub(super) make_id: Option<Arc<dyn MakeCorrelationId>>,
}

/// A config's values in the types the layer uses.
struct Parsed {
    id_header: HeaderName,
    also_accept: Vec<HeaderName>,
    id_rules: IdRules,
    trust: TrustPolicy,
    deadline_header: HeaderName,
    criticality_header: HeaderName,
    default_criticality: Criticality,
    fault_header: HeaderName,
}

impl ServerContextConfig {
    /// Checks every field and parses it; `trust` is the policy to use in
    /// place of the config's, when the builder was given one.
    fn parse(&self, trust: Option<TrustPolicy>) -> Result<Parsed, ConfigError> {
        let id_rules = IdRules::new()
            .max_len(self.id_max_len)
            .also_allow(&self.id_extra_chars)?;
        id_rules.validate()?;
        if let Some(max) = self.max_deadline {
            check_duration("max_deadline", max, Duration::from_nanos(1)..=MAX_DURATION)?;
        }
        if let Some(default) = self.default_deadline {
            check_duration(
                "default_deadline",
                default,
                Duration::from_nanos(1)..=MAX_DURATION,
            )?;
            if self.max_deadline.is_some_and(|max| default > max) {
                return Err(ConfigError::new(
                    "default_deadline",
                    "must not exceed max_deadline",
                ));
            }
        }
        if self
            .max_fault_len
            .is_some_and(|max| max == 0 || max > FAULT_LEN_LIMIT)
        {
            return Err(ConfigError::new("max_fault_len", "must be 1 to 4096"));
        }
        let default_criticality = Criticality::parse(self.default_criticality.as_bytes())
            .ok_or_else(|| ConfigError::new("default_criticality", "unknown criticality"))?;
        let parsed = Parsed {
            id_header: parse_name("id_header", &self.id_header)?,
            also_accept: self
                .also_accept
                .iter()
                .map(|name| parse_name("also_accept", name))
                .collect::<Result<_, _>>()?,
            id_rules,
            trust: match trust {
                Some(trust) => trust,
                None => self.trust.policy()?,
            },
            deadline_header: parse_name("deadline_header", &self.deadline_header)?,
            criticality_header: parse_name("criticality_header", &self.criticality_header)?,
            default_criticality,
            fault_header: parse_name("fault_header", &self.fault_header)?,
        };
        check_distinct(
            std::iter::once(("id_header", &parsed.id_header))
                .chain(parsed.also_accept.iter().map(|name| ("also_accept", name)))
                .chain([
                    ("deadline_header", &parsed.deadline_header),
                    ("criticality_header", &parsed.criticality_header),
                    ("fault_header", &parsed.fault_header),
                ]),
        )?;
        Ok(parsed)
    }

    /// Validates and builds the layer in `env`, with what the builder adds.
    pub(super) fn build_with(
        &self,
        env: &BuildEnv,
        extras: Extras,
    ) -> Result<ServerContextLayer, ConfigError> {
        let parsed = self.parse(extras.trust)?;
        let telemetry = env.telemetry(LayerKind::Context, self.name.as_deref());
        let (trusted_names, untrusted_names) = Settings::names(
            self.id_mode,
            &parsed.id_header,
            &parsed.also_accept,
            &parsed.deadline_header,
            &parsed.criticality_header,
            &parsed.fault_header,
            self.max_fault_len,
        );
        Ok(ServerContextLayer::from_settings(Settings {
            id_header: parsed.id_header,
            id_mode: self.id_mode,
            id_rules: parsed.id_rules,
            make_id: extras.make_id.unwrap_or_else(|| Arc::new(self.id_format)),
            trust: parsed.trust,
            deadlines: Deadlines::new(self.max_deadline, self.default_deadline),
            default_criticality: parsed.default_criticality,
            max_fault_len: self.max_fault_len,
            sample_new_traces: self.sample_new_traces,
            trusted_names,
            untrusted_names,
            telemetry,
        }))
    }
}

impl LayerConfig for ServerContextConfig {
    type Layer = ServerContextLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.parse(None).map(drop)
    }

    fn build_in(&self, env: &BuildEnv) -> Result<ServerContextLayer, ConfigError> {
        self.build_with(env, Extras::default())
    }
}
