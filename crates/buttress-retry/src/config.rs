//! The retry policy as data.
//!
//! [`RetryConfig`] holds every setting with documented, safe defaults and
//! loads from TOML or JSON with human durations
//! (`"50ms"`, `"10s"`). It is the retry's
//! [`LayerConfig`]: it validates itself
//! and builds the layer. [`RetryLayerBuilder`](crate::RetryLayerBuilder)
//! holds one too (`.configure(|c| ..)`, `.with_config(..)`) and adds only
//! what is not data: a classifier, a replay strategy, a telemetry sink, a
//! budget shared with other layers. Either way building validates the
//! whole config and names the field at fault.
//!
//! ```
//! use buttress_retry::{Jitter, RetryConfig, RetryLayer};
//! use std::time::Duration;
//!
//! let mut config = RetryConfig::default();
//! config.max_attempts = 4;
//! config.backoff.base = Duration::from_millis(20);
//! config.backoff.jitter = Jitter::Decorrelated;
//! let layer = RetryLayer::from_config(&config).unwrap();
//! # drop(layer);
//!
//! let mut bad = RetryConfig::default();
//! bad.retry_on.statuses.push(404);
//! let err = RetryLayer::from_config(&bad).unwrap_err();
//! assert_eq!(err.field(), "retry_on.statuses");
//! ```

use std::sync::Arc;
use std::time::Duration;

use buttress_core::GrpcCode;
use buttress_core::backoff::Backoff;
pub use buttress_core::backoff::Jitter;
use buttress_core::classify::{GrpcCodeSet, StatusSet};
use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerConfig};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::LayerKind;

use crate::budget::RetryBudget;
use crate::hedge::{HedgeConfig, Hedging};
use crate::layer::RetryLayer;
use crate::policy::Policy;
use crate::policy::grpc::{Entry, GrpcMethods};
use crate::policy::live::LiveLimits;
use crate::policy::retry_on::RetryOn;
use crate::replay::{BufferBody, ReplayMemory};
use crate::shared::Shared;

/// The most attempts a request may take, the first included.
pub const MAX_ATTEMPTS: u32 = 10;

/// The largest request body [`BufferBody`] keeps for
/// replay: 16 MiB. Larger caps hold too much memory per request in flight.
pub const MAX_BODY_LIMIT: usize = 16 << 20;

/// The default of `replay_memory`: 64 MiB kept for replay across all of a
/// layer's requests (four bodies at [`MAX_BODY_LIMIT`], a thousand at the
/// default 64 KiB).
pub const DEFAULT_REPLAY_MEMORY: usize = 64 << 20;

/// The largest `replay_memory` accepted: 1 GiB.
pub const MAX_REPLAY_MEMORY: usize = 1 << 30;

/// The backoff between attempts: retry *n* waits up to `base × 2ⁿ⁻¹`,
/// capped at `max`, drawn by `jitter`.
///
/// ```
/// use buttress_retry::{BackoffConfig, Jitter};
/// use std::time::Duration;
///
/// let backoff: BackoffConfig = toml::from_str(r#"
///     base = "20ms"
///     max = "1s"
///     jitter = "decorrelated"
/// "#).unwrap();
/// assert_eq!(backoff.base, Duration::from_millis(20));
/// assert_eq!(backoff.jitter, Jitter::Decorrelated);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// The delay scale: the first retry waits up to this (default 50 ms;
    /// more than zero, at most a day).
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// No backoff drawn from the policy exceeds this (default 2 s; at least
    /// `base`, at most a day). Server hints have their own cap,
    /// `max_retry_after`.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// How the delay is drawn (default [`Jitter::Full`], a uniform draw
    /// under the curve; [`Jitter::Decorrelated`] draws in `[base, 3 ×
    /// previous delay]`; [`Jitter::None`], the curve itself, makes clients
    /// that failed together retry together: use it only for tests;
    /// [`Jitter::Proportional`] takes a spread within 0 and 1).
    pub jitter: Jitter,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
            jitter: Jitter::Full,
        }
    }
}

impl BackoffConfig {
    /// Checks every field, naming it within the section (`base`, not
    /// `backoff.base`).
    fn to_backoff(self) -> Result<Backoff, ConfigError> {
        check_duration("base", self.base, Duration::from_nanos(1)..=MAX_DURATION)?;
        check_duration("max", self.max, self.base..=MAX_DURATION)?;
        if let Jitter::Proportional(spread) = self.jitter
            && !(0.0..=1.0).contains(&spread)
        {
            return Err(ConfigError::new(
                "jitter",
                "a spread must be within 0 and 1",
            ));
        }
        Ok(Backoff::new(self.base, self.max).jitter(self.jitter))
    }
}

/// The retry budget: see [`RetryBudget`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Retries may add this fraction of the requests in the window
    /// (default 0.1, i.e. 10 %; 0 to 10).
    pub ratio: f64,
    /// And this many retries per second of the window regardless of
    /// traffic, so that a quiet client can still retry (default 10; at most
    /// 100,000).
    pub min_per_sec: u32,
    /// The span of the sliding window (default 10 s; 10 ms to 1 h). It
    /// slides a tenth of its span at a time.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: 0.1,
            min_per_sec: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl BudgetConfig {
    /// Checks every field (the ratio within 0 and 10, the floor at most
    /// 100,000 per second, the window within 10 ms and an hour).
    ///
    /// ```
    /// use buttress_retry::BudgetConfig;
    /// use std::time::Duration;
    ///
    /// let short = BudgetConfig { window: Duration::from_millis(1), ..BudgetConfig::default() };
    /// assert_eq!(short.validate().unwrap_err().field(), "window");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=10.0).contains(&self.ratio) {
            return Err(ConfigError::new("ratio", "must be within 0 and 10"));
        }
        if self.min_per_sec > 100_000 {
            return Err(ConfigError::new("min_per_sec", "must be at most 100000"));
        }
        check_duration(
            "window",
            self.window,
            Duration::from_millis(10)..=Duration::from_secs(3_600),
        )
    }
}

/// Which requests may be sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE),
    /// or requests carrying an `Idempotency-Key` header. A POST or PATCH
    /// may have done its work before failing; sending it again could do it
    /// twice. The default.
    #[default]
    Required,
    /// Any request. For protocols whose methods are all POST but whose
    /// calls the caller knows to be safe to repeat (gRPC reads, say).
    Ignored,
}

/// What failures are worth another attempt.
///
/// An answer is only ever retried if the layer's classifier judges it a
/// failure (the one notion of failure the breaker and metrics share, see
/// [`buttress_core::classify`]); these settings then narrow which failures
/// are transient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryOnConfig {
    /// HTTP statuses to retry (default 408, 429, 500, 502, 503, 504: what
    /// reqwest-retry, Polly's standard handler and Envoy's `5xx` with
    /// `retriable-4xx` cover). Only 5xx, 408, 425 and 429 are accepted: any
    /// other 4xx is the caller's mistake and would fail again. 408 and 425
    /// say the server did not process the request, so they are retried
    /// when listed although the classifier (and so the breaker) does not
    /// count them as the dependency's failures.
    pub statuses: Vec<u16>,
    /// gRPC status codes to retry, by number (default 14, UNAVAILABLE).
    pub grpc_codes: Vec<u8>,
    /// Retry transport errors: refused or reset connections, protocol
    /// errors, and faults injected in their place (default true).
    pub transport_errors: bool,
    /// Retry an attempt ended by its per-attempt timeout, a sent
    /// `Rejected` with reason `Timeout` (default true). An attempt ended by
    /// the request's deadline is never retried: no time is left.
    pub timeouts: bool,
    /// Retry rejections by inner layers before sending (circuit open,
    /// bulkhead full, throttled…) (default false: the call was refused
    /// locally, and another try now would be refused too).
    pub local_rejections: bool,
}

impl Default for RetryOnConfig {
    fn default() -> Self {
        RetryOnConfig {
            statuses: vec![408, 429, 500, 502, 503, 504],
            grpc_codes: vec![GrpcCode::Unavailable.as_u8()],
            transport_errors: true,
            timeouts: true,
            local_rejections: false,
        }
    }
}

impl RetryOnConfig {
    fn to_retry_on(&self) -> Result<RetryOn, ConfigError> {
        let mut statuses = StatusSet::empty();
        for &status in &self.statuses {
            if !(matches!(status, 408 | 425 | 429) || (500..=599).contains(&status)) {
                return Err(ConfigError::new(
                    "statuses",
                    "only 5xx, 408, 425 and 429 may be retried",
                ));
            }
            statuses = statuses.with(status);
        }
        let codes = grpc_code_set("grpc_codes", &self.grpc_codes)?;
        Ok(RetryOn {
            statuses,
            grpc_codes: codes,
            transport_errors: self.transport_errors,
            timeouts: self.timeouts,
            local_rejections: self.local_rejections,
        })
    }
}

/// The set of gRPC error codes `codes` names; the error names `field`.
fn grpc_code_set(
    field: impl Into<std::borrow::Cow<'static, str>>,
    codes: &[u8],
) -> Result<GrpcCodeSet, ConfigError> {
    let mut set = GrpcCodeSet::empty();
    for &code in codes {
        match GrpcCode::from_u8(code) {
            Some(GrpcCode::Ok) | None => {
                return Err(ConfigError::new(
                    field,
                    "must be gRPC error codes (1 to 16)",
                ));
            }
            Some(code) => set = set.with(code),
        }
    }
    Ok(set)
}

/// A gRPC service, or one of its methods, declared safe to retry — as a
/// gRPC service config's `methodConfig` declares a `retryPolicy` (gRFC
/// A6) — with the status codes its calls are retried on.
///
/// ```
/// use buttress_retry::RetryConfig;
///
/// let config: RetryConfig = toml::from_str(r#"
///     grpc_methods = [
///         { service = "shop.v1.Stock", method = "Get", codes = [14, 4] },
///         { service = "grpc.health.v1.Health" },
///     ]
/// "#).unwrap();
/// assert_eq!(config.grpc_methods.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcMethodConfig {
    /// The fully qualified service (`shop.v1.Stock`).
    pub service: String,
    /// One method of it (`Get`); absent: every method of the service.
    pub method: Option<String>,
    /// The status codes retried, by number (A6's `retryableStatusCodes`);
    /// absent: the layer's `retry_on.grpc_codes` (UNAVAILABLE).
    pub codes: Option<Vec<u8>>,
}

/// The most `grpc_methods` entries: a call is matched against each.
const MAX_GRPC_METHODS: usize = 256;

fn grpc_methods(configs: &[GrpcMethodConfig]) -> Result<GrpcMethods, ConfigError> {
    if configs.len() > MAX_GRPC_METHODS {
        return Err(ConfigError::new("grpc_methods", "at most 256 entries"));
    }
    let name_ok = |name: &str| !name.is_empty() && !name.contains('/');
    let mut entries = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let field = |name: &str| format!("grpc_methods[{i}].{name}");
        if !name_ok(&config.service) {
            return Err(ConfigError::new(
                field("service"),
                "must be a service name, without '/'",
            ));
        }
        if config.method.as_deref().is_some_and(|m| !name_ok(m)) {
            return Err(ConfigError::new(
                field("method"),
                "must be a method name, without '/'",
            ));
        }
        let codes = match &config.codes {
            Some(codes) => Some(grpc_code_set(field("codes"), codes)?),
            None => None,
        };
        entries.push(Entry {
            service: config.service.as_str().into(),
            method: config.method.as_deref().map(Into::into),
            codes,
        });
    }
    Ok(GrpcMethods::new(entries))
}

/// Every setting of a retry layer. `Default` gives the documented
/// defaults; see the [crate documentation](crate) for what each does.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `retry` | what it reports under |
/// | `max_attempts` | 3 | attempts per request, the first included (1 to 10) |
/// | `backoff` | 50 ms doubling to 2 s, full jitter | the wait before each retry |
/// | `max_retry_after` | 10 s | the longest server hint honoured (at most a day) |
/// | `budget` | 10 % + 10/s over 10 s | retries allowed across all requests |
/// | `timeout` | none | the layer's own limit on a whole call (at most a day) |
/// | `body_limit` | 64 KiB | the largest request body kept for replay (at most 16 MiB) |
/// | `replay_memory` | 64 MiB | the most bytes kept for replay across all requests (at least `body_limit`, at most 1 GiB) |
/// | `idempotency` | required | which requests may be sent again |
/// | `retry_on` | 408, 429, 500, 502–504, UNAVAILABLE, transport errors, timeouts | which failures are retried |
/// | `grpc_methods` | none | gRPC services or methods safe to retry, and their codes (gRFC A6) |
/// | `hedge` | off | hedge instead of retrying (see [`HedgeConfig`]) |
/// | `seed` | random | the jitter's seed |
///
/// ```
/// use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
/// use buttress_retry::{RetryConfig, RetryLayer};
///
/// let config = RetryConfig { max_attempts: 2, body_limit: 4 << 10, ..RetryConfig::default() };
/// let layer = RetryLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().id().name(), "retry");
///
/// // Built in a stack's environment, an unnamed retry takes its name.
/// let layer = config.build_in(&BuildEnv::named("inventory")).unwrap();
/// assert_eq!(layer.handle().id().name(), "inventory");
/// ```
///
/// From TOML (replay limits included):
///
/// ```
/// use buttress_retry::{Idempotency, RetryConfig};
/// use std::time::Duration;
///
/// let config: RetryConfig = toml::from_str(r#"
///     max_attempts = 2
///     body_limit = 1048576
///     idempotency = "ignored"
///     backoff = { base = "20ms", max = "500ms" }
///     budget = { ratio = 0.2, window = "30s" }
///     retry_on = { statuses = [503], local_rejections = true }
/// "#).unwrap();
/// assert_eq!(config.body_limit, 1 << 20);
/// assert_eq!(config.idempotency, Idempotency::Ignored);
/// assert_eq!(config.backoff.max, Duration::from_millis(500));
/// assert_eq!(config.name, None);
/// assert!(toml::from_str::<RetryConfig>("max_atempts = 2").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// The name the layer reports under; `None` (the default) takes the
    /// name of the stack or environment it is built in, else `retry`.
    pub name: Option<String>,
    /// Attempts per request, the first included (default 3; 1 to 10). 1
    /// turns retries off.
    pub max_attempts: u32,
    /// The backoff between attempts.
    pub backoff: BackoffConfig,
    /// The longest server hint (`Retry-After`, `grpc-retry-pushback-ms`)
    /// honoured (default 10 s; at most a day). A server asking for longer
    /// is not retried: it is telling us it will not be back soon.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
    /// The retry budget (default: 10 % + 10/s over 10 s). `None` turns it
    /// off, leaving only `max_attempts`, which is what causes retry
    /// storms; use it only for experiments. A budget shared with other
    /// layers ([`RetryLayerBuilder::shared_budget`](crate::RetryLayerBuilder::shared_budget))
    /// takes the place of this section.
    pub budget: Option<BudgetConfig>,
    /// The layer's own limit on a whole call, every attempt and backoff
    /// included (default none: the request's `RequestContext` deadline,
    /// if any, is the only limit; more than zero, at most a day).
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// HTTP request bodies up to this many bytes are kept to be replayed
    /// (default 64 KiB; at most [`MAX_BODY_LIMIT`], 16 MiB). A larger body
    /// is sent once and its request is not retried; 0 replays only
    /// requests without a body.
    pub body_limit: usize,
    /// The most request-body bytes the layer keeps for replay across all
    /// its requests in flight, every clone of it included (default
    /// [`DEFAULT_REPLAY_MEMORY`], 64 MiB; at least `body_limit`, at most
    /// [`MAX_REPLAY_MEMORY`], 1 GiB). A request whose body would take the
    /// total past it is sent once, not buffered, and is not retried —
    /// as one over `body_limit` is — so a burst of large uploads cannot
    /// hold `body_limit` × concurrency bytes.
    pub replay_memory: usize,
    /// Which requests may be retried (default: idempotent ones).
    pub idempotency: Idempotency,
    /// Which failures are retried.
    pub retry_on: RetryOnConfig,
    /// gRPC services and methods declared safe to retry, each with the
    /// codes it is retried on (gRPC's retry policy, gRFC A6). Every gRPC
    /// call is a POST, so without a declaration (or an `Idempotency-Key`,
    /// or `idempotency = "ignored"`) none is retried. The first entry that
    /// matches a call decides; at most 256 (default none).
    pub grpc_methods: Vec<GrpcMethodConfig>,
    /// Hedge instead of retrying (default off): see [`HedgeConfig`]. The
    /// same requests qualify, `max_attempts` bounds the attempts in
    /// flight, and the budget pays for every hedge.
    pub hedge: Option<HedgeConfig>,
    /// Seed of the jitter's random numbers; random when absent. Set it for
    /// reproducible simulations.
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            name: None,
            max_attempts: 3,
            backoff: BackoffConfig::default(),
            max_retry_after: Duration::from_secs(10),
            budget: Some(BudgetConfig::default()),
            timeout: None,
            body_limit: 64 << 10,
            replay_memory: DEFAULT_REPLAY_MEMORY,
            idempotency: Idempotency::Required,
            retry_on: RetryOnConfig::default(),
            grpc_methods: Vec::new(),
            hedge: None,
            seed: None,
        }
    }
}

impl LayerConfig for RetryConfig {
    type Layer = RetryLayer;

    /// Checks every field, those of its sections too (`backoff`, `budget`,
    /// `retry_on`); the error names the first one that is wrong, by its
    /// path.
    ///
    /// ```
    /// use buttress_core::layer::LayerConfig;
    /// use buttress_retry::RetryConfig;
    /// use std::time::Duration;
    ///
    /// let mut config = RetryConfig { max_attempts: 0, ..RetryConfig::default() };
    /// assert_eq!(config.validate().unwrap_err().field(), "max_attempts");
    /// config.max_attempts = 2;
    /// config.backoff.max = Duration::from_millis(1);
    /// assert_eq!(config.validate().unwrap_err().field(), "backoff.max");
    /// config.backoff.max = Duration::from_secs(1);
    /// config.timeout = Some(Duration::ZERO);
    /// assert_eq!(config.validate().unwrap_err().to_string(), "timeout: must be greater than zero");
    /// ```
    fn validate(&self) -> Result<(), ConfigError> {
        self.policy().map(|_| ())
    }

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn build_in(&self, env: &BuildEnv) -> Result<RetryLayer, ConfigError> {
        let shared = self.shared_in(env, BufferBody, Default::default(), None)?;
        Ok(RetryLayer::new(shared))
    }
}

impl RetryConfig {
    /// Validates the config and builds what every service of the layer
    /// shares, its telemetry registered in `env`. `budget`, when given, is
    /// drawn on instead of a budget of the layer's own.
    pub(crate) fn shared_in<P, C>(
        &self,
        env: &BuildEnv,
        replay: P,
        classifier: C,
        budget: Option<RetryBudget>,
    ) -> Result<Shared<P, C>, ConfigError> {
        let policy = self.policy()?;
        let budget = match (budget, &self.budget) {
            (Some(shared), _) => Some(shared),
            (None, Some(config)) => {
                Some(RetryBudget::new(config).map_err(|e| e.in_section("budget"))?)
            }
            (None, None) => None,
        };
        let hedging = self.hedging()?;
        let telemetry = env.telemetry(LayerKind::Retry, self.name.as_deref());
        let memory = ReplayMemory::new(self.body_limit, self.replay_memory);
        Ok(Shared::new(
            memory,
            policy,
            budget,
            SharedRng::seeded_or_random(self.seed),
            telemetry,
            classifier,
            replay,
            self.clone(),
            hedging,
        ))
    }

    /// The checked hedging settings, if the layer hedges.
    fn hedging(&self) -> Result<Option<Hedging>, ConfigError> {
        let Some(hedge) = &self.hedge else {
            return Ok(None);
        };
        if self.max_attempts < 2 {
            return Err(ConfigError::new(
                "max_attempts",
                "must be at least 2 to hedge (the first attempt and a hedge)",
            ));
        }
        hedge.hedging().map(Some).map_err(|e| e.in_section("hedge"))
    }

    pub(crate) fn policy(&self) -> Result<Policy, ConfigError> {
        if self.name.as_deref() == Some("") {
            // `None` is how to say "the stack's name"; an empty name would
            // report under nothing.
            return Err(ConfigError::new("name", "must not be empty"));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(ConfigError::new("max_attempts", "must be within 1 and 10"));
        }
        let backoff = self
            .backoff
            .to_backoff()
            .map_err(|e| e.in_section("backoff"))?;
        check_duration(
            "max_retry_after",
            self.max_retry_after,
            Duration::ZERO..=MAX_DURATION,
        )?;
        if let Some(budget) = &self.budget {
            budget.validate().map_err(|e| e.in_section("budget"))?;
        }
        if let Some(timeout) = self.timeout {
            check_duration("timeout", timeout, Duration::from_nanos(1)..=MAX_DURATION)?;
        }
        if self.body_limit > MAX_BODY_LIMIT {
            return Err(ConfigError::new("body_limit", "must be at most 16 MiB"));
        }
        if self.replay_memory < self.body_limit {
            return Err(ConfigError::new(
                "replay_memory",
                "must be at least body_limit",
            ));
        }
        if self.replay_memory > MAX_REPLAY_MEMORY {
            return Err(ConfigError::new("replay_memory", "must be at most 1 GiB"));
        }
        let retry_on = self
            .retry_on
            .to_retry_on()
            .map_err(|e| e.in_section("retry_on"))?;
        Ok(Policy {
            live: Arc::new(LiveLimits::new(
                self.max_attempts,
                backoff,
                self.max_retry_after,
                self.timeout,
            )),
            retry_on,
            idempotency: self.idempotency,
            grpc_methods: grpc_methods(&self.grpc_methods)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(config: RetryConfig) -> String {
        config.validate().unwrap_err().field().to_owned()
    }

    #[test]
    fn defaults_are_valid() {
        RetryConfig::default().validate().unwrap();
    }

    #[test]
    fn each_field_is_checked() {
        let base = RetryConfig::default;
        assert_eq!(
            field(RetryConfig {
                name: Some(String::new()),
                ..base()
            }),
            "name"
        );
        assert_eq!(
            field(RetryConfig {
                max_attempts: 11,
                ..base()
            }),
            "max_attempts"
        );
        let mut c = base();
        c.backoff.base = Duration::ZERO;
        assert_eq!(field(c), "backoff.base");
        let mut c = base();
        c.backoff.max = Duration::from_millis(1);
        assert_eq!(field(c), "backoff.max");
        let mut c = base();
        c.budget.as_mut().unwrap().ratio = 11.0;
        assert_eq!(field(c), "budget.ratio");
        assert_eq!(
            field(RetryConfig {
                timeout: Some(Duration::ZERO),
                ..base()
            }),
            "timeout"
        );
        assert_eq!(
            field(RetryConfig {
                body_limit: usize::MAX,
                ..base()
            }),
            "body_limit"
        );
        assert_eq!(
            field(RetryConfig {
                body_limit: 1 << 20,
                replay_memory: 1 << 19,
                ..base()
            }),
            "replay_memory"
        );
        assert_eq!(
            field(RetryConfig {
                replay_memory: usize::MAX,
                ..base()
            }),
            "replay_memory"
        );
        assert_eq!(
            field(RetryConfig {
                max_retry_after: Duration::from_secs(100_000),
                ..base()
            }),
            "max_retry_after"
        );
        for status in [200, 400, 404, 499, 600] {
            let mut c = base();
            c.retry_on.statuses = vec![status];
            assert_eq!(field(c), "retry_on.statuses", "{status}");
        }
        for code in [0, 17] {
            let mut c = base();
            c.retry_on.grpc_codes = vec![code];
            assert_eq!(field(c), "retry_on.grpc_codes", "{code}");
        }
    }

    #[test]
    fn durations_are_bounded_by_a_day() {
        let too_long = MAX_DURATION + Duration::from_secs(1);
        let base = RetryConfig::default;
        let mut c = base();
        c.backoff.max = too_long;
        assert_eq!(field(c), "backoff.max");
        let mut c = base();
        c.backoff.base = too_long;
        assert_eq!(field(c), "backoff.base");
        assert_eq!(
            field(RetryConfig {
                timeout: Some(too_long),
                ..base()
            }),
            "timeout"
        );
        let mut c = base();
        c.budget.as_mut().unwrap().window = Duration::from_secs(7_200);
        assert_eq!(field(c), "budget.window");
        let longest = RetryConfig {
            backoff: BackoffConfig {
                base: MAX_DURATION,
                max: MAX_DURATION,
                jitter: Jitter::Full,
            },
            max_retry_after: MAX_DURATION,
            timeout: Some(MAX_DURATION),
            ..base()
        };
        longest.validate().unwrap();
        let unhinted = RetryConfig {
            max_retry_after: Duration::ZERO,
            ..base()
        };
        unhinted.validate().unwrap();
    }

    #[test]
    fn a_proportional_spread_lies_within_0_and_1() {
        let mut c = RetryConfig::default();
        c.backoff.jitter = Jitter::Proportional(0.5);
        c.validate().unwrap();
        for spread in [-0.1, 1.5, f64::NAN] {
            c.backoff.jitter = Jitter::Proportional(spread);
            assert_eq!(field(c.clone()), "backoff.jitter", "{spread}");
        }
    }

    #[test]
    fn the_name_comes_from_the_config_else_the_env_else_the_kind() {
        use buttress_core::layer::LayerHandle;
        let unnamed = RetryConfig::default();
        let env = BuildEnv::named("inventory");
        let id = |layer: RetryLayer| layer.handle().id().name().to_owned();
        assert_eq!(id(unnamed.build().unwrap()), "retry");
        assert_eq!(id(unnamed.build_in(&env).unwrap()), "inventory");
        let named = RetryConfig {
            name: Some("search".to_owned()),
            ..unnamed
        };
        assert_eq!(id(named.build_in(&env).unwrap()), "search");
    }

    #[test]
    fn accepted_statuses() {
        let mut c = RetryConfig::default();
        c.retry_on.statuses = vec![408, 425, 429, 500, 599];
        c.validate().unwrap();
    }
}
