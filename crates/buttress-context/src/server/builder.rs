//! [`ServerContextLayerBuilder`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder};
use buttress_core::{Criticality, TrustPolicy};
use http::HeaderName;

use super::ServerContextLayer;
use super::config::{Extras, ServerContextConfig};
use crate::id::{IdFormat, IdMode, IdRules, MakeCorrelationId};

/// Builds a [`ServerContextLayer`]: the [`ServerContextConfig`] fields in
/// code, plus what data cannot say (a [`TrustPolicy`] built in code, a
/// custom [`MakeCorrelationId`]). [`build`](Self::build) validates.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_context::server::ServerContextLayer;
/// use buttress_core::layer::LayerHandle;
/// use buttress_core::{Criticality, TrustPolicy};
/// use std::time::Duration;
///
/// let layer = ServerContextLayer::builder()
///     .trust(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
///     .max_deadline(Duration::from_secs(5))
///     .default_deadline(Duration::from_secs(2))
///     .default_criticality(Criticality::SheddablePlus)
///     .name("checkout")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "checkout");
///
/// let err = ServerContextLayer::builder()
///     .max_deadline(Duration::from_secs(1))
///     .default_deadline(Duration::from_secs(2))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "default_deadline");
/// ```
#[derive(Clone, Default)]
pub struct ServerContextLayerBuilder {
    config: ServerContextConfig,
    env: BuildEnv,
    /// Replaces the config's `trust` when set.
    trust: Option<TrustPolicy>,
    /// Replaces the config's `id_format` when set.
    make_id: Option<Arc<dyn MakeCorrelationId>>,
}

impl LayerBuilder for ServerContextLayerBuilder {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
    }
}

impl ServerContextLayerBuilder {
    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: ServerContextConfig) -> Self {
        ServerContextLayerBuilder {
            config,
            ..Self::default()
        }
    }

    /// The ID header: read first, echoed on responses (default
    /// `x-request-id`).
    pub fn id_header(mut self, name: HeaderName) -> Self {
        self.config.id_header = name.as_str().into();
        self
    }

    /// Other headers an ID is accepted from, tried in order after the ID
    /// header (default `x-correlation-id`). The first one present decides.
    pub fn also_accept(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config.also_accept = names.into_iter().map(|n| n.as_str().into()).collect();
        self
    }

    /// Whether a trusted caller's ID is kept ([`IdMode::Accept`], the
    /// default) or every request gets a fresh one ([`IdMode::Generate`]).
    pub fn id_mode(mut self, mode: IdMode) -> Self {
        self.config.id_mode = mode;
        self
    }

    /// Which built-in format fresh IDs take (default
    /// [`UuidV7`](crate::id::UuidV7)); replaces a [`make_id`](Self::make_id).
    pub fn id_format(mut self, format: IdFormat) -> Self {
        self.config.id_format = format;
        self.make_id = None;
        self
    }

    /// How fresh IDs are made, by your own scheme; replaces the
    /// [`id_format`](Self::id_format).
    pub fn make_id(mut self, make: impl MakeCorrelationId) -> Self {
        self.make_id = Some(Arc::new(make));
        self
    }

    /// The longest accepted ID, 1 to 256 bytes (default 128).
    pub fn id_max_len(mut self, max: usize) -> Self {
        self.config.id_max_len = max;
        self
    }

    /// Bytes accepted in an ID beyond `[A-Za-z0-9._:-]` (default none).
    pub fn id_extra_chars(mut self, chars: impl Into<String>) -> Self {
        self.config.id_extra_chars = chars.into();
        self
    }

    /// What an accepted ID must look like: sets both
    /// [`id_max_len`](Self::id_max_len) and
    /// [`id_extra_chars`](Self::id_extra_chars).
    pub fn id_rules(mut self, rules: IdRules) -> Self {
        self.config.id_max_len = rules.get_max_len();
        self.config.id_extra_chars = rules.extra_chars();
        self
    }

    /// Which callers may set the ID (in accept mode), deadline,
    /// criticality and fault directive (default: nobody). Replaces the
    /// config's [`trust`](ServerContextConfig::trust), its data form.
    pub fn trust(mut self, trust: TrustPolicy) -> Self {
        self.trust = Some(trust);
        self
    }

    /// The milliseconds header a trusted HTTP caller's deadline is read
    /// from (default `x-request-timeout-ms`); `grpc-timeout` is always read.
    pub fn deadline_header(mut self, name: HeaderName) -> Self {
        self.config.deadline_header = name.as_str().into();
        self
    }

    /// The longest deadline any caller may set: a longer one is cut to
    /// this.
    pub fn max_deadline(mut self, max: Duration) -> Self {
        self.config.max_deadline = Some(max);
        self
    }

    /// The deadline of a request that brought none (or whose caller is not
    /// trusted). Without one such requests have no deadline.
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.config.default_deadline = Some(deadline);
        self
    }

    /// The criticality header (default `x-criticality`).
    pub fn criticality_header(mut self, name: HeaderName) -> Self {
        self.config.criticality_header = name.as_str().into();
        self
    }

    /// The criticality of requests that set none, or are not trusted to.
    pub fn default_criticality(mut self, level: Criticality) -> Self {
        self.config.default_criticality = level.as_str().into();
        self
    }

    /// The fault directive header (default `x-buttress-fault`).
    pub fn fault_header(mut self, name: HeaderName) -> Self {
        self.config.fault_header = name.as_str().into();
        self
    }

    /// The longest fault directive carried (default 256 bytes; 1 to
    /// 4096); `None` carries none.
    pub fn max_fault_len(mut self, max: Option<usize>) -> Self {
        self.config.max_fault_len = max;
        self
    }

    /// Whether traces this server starts are marked sampled (default no:
    /// sampling is a tracer's decision).
    pub fn sample_new_traces(mut self, sampled: bool) -> Self {
        self.config.sample_new_traces = sampled;
        self
    }

    /// The config built so far (without the builder-only policy and ID
    /// maker).
    pub fn config(&self) -> &ServerContextConfig {
        &self.config
    }

    /// Validates and builds the layer, registering it with telemetry.
    pub fn build(self) -> Result<ServerContextLayer, ConfigError> {
        let extras = Extras {
            trust: self.trust,
            make_id: self.make_id,
        };
        self.config.build_with(&self.env, extras)
    }
}

impl std::fmt::Debug for ServerContextLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContextLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("trust", &self.trust)
            .field("custom_make_id", &self.make_id.is_some())
            .finish()
    }
}
