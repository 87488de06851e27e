//! [`ServerContextBuilder`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};
use buttress_core::{Criticality, TrustPolicy};
use http::HeaderName;

use super::ServerContextLayer;
use super::read::Settings;
use crate::headers::{
    GRPC_TIMEOUT, TRACEPARENT, TRACESTATE, X_BUTTRESS_FAULT, X_CORRELATION_ID, X_CRITICALITY,
    X_REQUEST_ID, X_REQUEST_TIMEOUT_MS,
};
use crate::id::{IdFormat, IdMode, IdRules, MakeCorrelationId};

/// The longest fault directive a configuration may allow.
const FAULT_LEN_LIMIT: usize = 4096;

/// Builds a [`ServerContextLayer`]; [`build`](Self::build) validates.
///
/// ```
/// use buttress_context::server::ServerContextLayer;
/// use buttress_core::{Criticality, TrustPolicy};
/// use std::time::Duration;
///
/// let layer = ServerContextLayer::builder()
///     .trust(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
///     .max_deadline(Duration::from_secs(5))
///     .default_deadline(Duration::from_secs(2))
///     .default_criticality(Criticality::SheddablePlus)
///     .build()
///     .unwrap();
/// # drop(layer);
///
/// let err = ServerContextLayer::builder()
///     .max_deadline(Duration::from_secs(1))
///     .default_deadline(Duration::from_secs(2))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "default_deadline");
/// ```
pub struct ServerContextBuilder {
    id_header: HeaderName,
    also_accept: Vec<HeaderName>,
    id_mode: IdMode,
    id_rules: IdRules,
    make_id: Arc<dyn MakeCorrelationId>,
    trust: TrustPolicy,
    deadline_header: HeaderName,
    max_deadline: Option<Duration>,
    default_deadline: Option<Duration>,
    criticality_header: HeaderName,
    default_criticality: Criticality,
    fault_header: HeaderName,
    max_fault_len: Option<usize>,
    sample_new_traces: bool,
    name: Arc<str>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl ServerContextBuilder {
    /// The defaults (see [`ServerContextLayer::builder`]).
    pub fn new() -> Self {
        ServerContextBuilder {
            id_header: X_REQUEST_ID,
            also_accept: vec![X_CORRELATION_ID],
            id_mode: IdMode::Accept,
            id_rules: IdRules::new(),
            make_id: Arc::new(IdFormat::UuidV7),
            trust: TrustPolicy::never(),
            deadline_header: X_REQUEST_TIMEOUT_MS,
            max_deadline: None,
            default_deadline: None,
            criticality_header: X_CRITICALITY,
            default_criticality: Criticality::default(),
            fault_header: X_BUTTRESS_FAULT,
            max_fault_len: Some(256),
            sample_new_traces: false,
            name: Arc::from("context"),
            sink: None,
        }
    }

    /// The ID header: read first, echoed on responses (default
    /// `x-request-id`).
    pub fn id_header(mut self, name: HeaderName) -> Self {
        self.id_header = name;
        self
    }

    /// Other headers an ID is accepted from, tried in order after the ID
    /// header (default `x-correlation-id`). The first one present decides.
    pub fn also_accept(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.also_accept = names.into_iter().collect();
        self
    }

    /// Whether a trusted caller's ID is kept ([`IdMode::Accept`], the
    /// default) or every request gets a fresh one ([`IdMode::Generate`]).
    pub fn id_mode(mut self, mode: IdMode) -> Self {
        self.id_mode = mode;
        self
    }

    /// What an accepted ID must look like.
    pub fn id_rules(mut self, rules: IdRules) -> Self {
        self.id_rules = rules;
        self
    }

    /// How fresh IDs are made (default [`UuidV7`](crate::id::UuidV7)).
    pub fn make_id(mut self, make: impl MakeCorrelationId) -> Self {
        self.make_id = Arc::new(make);
        self
    }

    /// Which callers may set the ID (in accept mode), deadline,
    /// criticality and fault directive (default: nobody).
    pub fn trust(mut self, trust: TrustPolicy) -> Self {
        self.trust = trust;
        self
    }

    /// The milliseconds header a trusted HTTP caller's deadline is read
    /// from (default `x-request-timeout-ms`); `grpc-timeout` is always read.
    pub fn deadline_header(mut self, name: HeaderName) -> Self {
        self.deadline_header = name;
        self
    }

    /// The longest deadline any caller may set: a longer one is cut to
    /// this.
    pub fn max_deadline(mut self, max: Duration) -> Self {
        self.max_deadline = Some(max);
        self
    }

    /// The deadline of a request that brought none (or whose caller is not
    /// trusted). Without one such requests have no deadline.
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = Some(deadline);
        self
    }

    /// The criticality header (default `x-criticality`).
    pub fn criticality_header(mut self, name: HeaderName) -> Self {
        self.criticality_header = name;
        self
    }

    /// The criticality of requests that set none, or are not trusted to.
    pub fn default_criticality(mut self, level: Criticality) -> Self {
        self.default_criticality = level;
        self
    }

    /// The fault directive header (default `x-buttress-fault`).
    pub fn fault_header(mut self, name: HeaderName) -> Self {
        self.fault_header = name;
        self
    }

    /// The longest fault directive carried (default 256 bytes; 1 to
    /// 4096); `None` carries none.
    pub fn max_fault_len(mut self, max: Option<usize>) -> Self {
        self.max_fault_len = max;
        self
    }

    /// Whether traces this server starts are marked sampled (default no:
    /// sampling is a tracer's decision).
    pub fn sample_new_traces(mut self, sampled: bool) -> Self {
        self.sample_new_traces = sampled;
        self
    }

    /// The name the layer registers under with telemetry (default
    /// `context`).
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
    pub fn build(self) -> Result<ServerContextLayer, ConfigError> {
        self.id_rules.validate()?;
        if self.max_deadline == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "max_deadline",
                "must be greater than zero",
            ));
        }
        if let Some(default) = self.default_deadline {
            if default.is_zero() {
                return Err(ConfigError::new(
                    "default_deadline",
                    "must be greater than zero",
                ));
            }
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
        check_distinct(
            std::iter::once(("id_header", &self.id_header))
                .chain(self.also_accept.iter().map(|name| ("also_accept", name)))
                .chain([
                    ("deadline_header", &self.deadline_header),
                    ("criticality_header", &self.criticality_header),
                    ("fault_header", &self.fault_header),
                ]),
        )?;
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Context, self.name),
            None => Telemetry::register(LayerKind::Context, self.name),
        };
        let (trusted_names, untrusted_names) = Settings::names(
            self.id_mode,
            &self.id_header,
            &self.also_accept,
            &self.deadline_header,
            &self.criticality_header,
            &self.fault_header,
            self.max_fault_len,
        );
        Ok(ServerContextLayer::from_settings(Settings {
            id_header: self.id_header,
            id_mode: self.id_mode,
            id_rules: self.id_rules,
            make_id: self.make_id,
            trust: self.trust,
            max_deadline: self.max_deadline,
            default_deadline: self.default_deadline,
            default_criticality: self.default_criticality,
            max_fault_len: self.max_fault_len,
            sample_new_traces: self.sample_new_traces,
            trusted_names,
            untrusted_names,
            telemetry,
        }))
    }
}

impl Default for ServerContextBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ServerContextBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContextBuilder")
            .field("id_header", &self.id_header)
            .field("id_mode", &self.id_mode)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// Every configured header names one thing, and none is a header whose
/// name the protocols fix.
pub(crate) fn check_distinct<'a>(
    names: impl Iterator<Item = (&'static str, &'a HeaderName)> + Clone,
) -> Result<(), ConfigError> {
    for (i, (field, name)) in names.clone().enumerate() {
        if [TRACEPARENT, TRACESTATE, GRPC_TIMEOUT].contains(name) {
            return Err(ConfigError::new(
                field,
                "names a header the protocols reserve",
            ));
        }
        if names.clone().skip(i + 1).any(|(_, other)| other == name) {
            return Err(ConfigError::new(
                field,
                "names the same header as another setting",
            ));
        }
    }
    Ok(())
}
