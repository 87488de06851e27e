//! [`FallbackConfig`]: what a fallback answers with, and when, as data.

use std::time::Duration;

use buttress_core::Reason;
use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerConfig};
use http::{HeaderName, HeaderValue, Method, StatusCode};

use crate::layer::{Extras, FallbackLayer};

/// The most keys a stale cache may be configured to hold.
const MAX_STALE_KEYS: usize = 1_000_000;

/// The largest body a stale cache may be configured to keep.
const MAX_STALE_BODY: usize = 16 * 1024 * 1024;

/// The default byte budget of a stale cache: what its default key count
/// and body size were nominally worth.
const DEFAULT_STALE_BYTES: usize = 64 * 1024 * 1024;

/// A fixed fallback answer, as data.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `status` | 200 | the answer's status |
/// | `content_type` | none | its `content-type` header |
/// | `body` | empty | its body |
///
/// An answer with other headers, or a body that is not text, is given
/// in code with [`respond_with`](crate::FallbackLayerBuilder::respond_with).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FallbackResponse {
    /// The answer's status code.
    pub status: u16,
    /// The answer's `content-type`, if it has one.
    pub content_type: Option<String>,
    /// The answer's body.
    pub body: String,
}

impl Default for FallbackResponse {
    fn default() -> Self {
        FallbackResponse {
            status: 200,
            content_type: None,
            body: String::new(),
        }
    }
}

impl FallbackResponse {
    /// A 200 answer with `body` of type `content_type` (`"application/json"`).
    pub fn new(content_type: impl Into<String>, body: impl Into<String>) -> Self {
        FallbackResponse {
            content_type: Some(content_type.into()),
            body: body.into(),
            ..FallbackResponse::default()
        }
    }

    /// The response it describes, or the field at fault.
    pub(crate) fn to_response(&self) -> Result<http::Response<bytes::Bytes>, ConfigError> {
        let status = StatusCode::from_u16(self.status)
            .map_err(|_| ConfigError::new("status", "must be a status code, 100 to 999"))?;
        let mut response = http::Response::new(bytes::Bytes::from(self.body.clone()));
        *response.status_mut() = status;
        if let Some(content_type) = &self.content_type {
            let value = HeaderValue::from_str(content_type)
                .map_err(|_| ConfigError::new("content_type", "must be a valid header value"))?;
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        Ok(response)
    }
}

/// The stale cache: the last good answer per key, served when a call
/// fails, bounded in keys, age, body size and bytes.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `max_age` | required | how old a kept answer may be and still be served, 1 ns to 1 day |
/// | `capacity` | 1,000 | the most keys kept, 1 to 1,000,000 |
/// | `max_body` | 64 KiB | the largest body kept, 1 byte to 16 MiB; larger answers pass uncached |
/// | `max_bytes` | 64 MiB | the most memory kept: keys, headers and bodies together, with their bookkeeping; at least `max_body` |
/// | `refresh` | 1 s, or `max_age` if shorter | how often a key's kept answer is replaced by a newer good one, 0 to `max_age` |
///
/// Keys are the request's method and URI; a key function is given in
/// code with [`stale_key`](crate::FallbackLayerBuilder::stale_key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaleConfig {
    /// How old a kept answer may be and still be served. Has no default:
    /// zero (unset) fails validation.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// The most keys held. When every key holds a fresh answer, new keys
    /// are not cached.
    pub capacity: usize,
    /// The largest body kept, in bytes.
    pub max_body: usize,
    /// The most bytes the cache holds, every answer's key, headers and
    /// body counted, with a conservative estimate of the bookkeeping
    /// around them (see [`FallbackHandle::stale_bytes`]). Keys and headers
    /// count because they can outweigh the body: a 30 KB URI and 100 KB of
    /// response headers around a two-byte body. When the budget is spent
    /// on fresh answers, new keys are not cached, as when `capacity` is
    /// reached. At least `max_body`.
    ///
    /// [`FallbackHandle::stale_bytes`]: crate::FallbackHandle::stale_bytes
    pub max_bytes: usize,
    /// How often a key's kept answer is replaced; `None`: a second, or
    /// `max_age` if that is shorter. Between refreshes a good answer costs
    /// one shared lock and is not copied.
    #[serde(with = "humantime_serde")]
    pub refresh: Option<Duration>,
}

impl Default for StaleConfig {
    fn default() -> Self {
        StaleConfig {
            max_age: Duration::ZERO,
            capacity: 1_000,
            max_body: 64 * 1024,
            max_bytes: DEFAULT_STALE_BYTES,
            refresh: None,
        }
    }
}

impl StaleConfig {
    /// A stale cache serving answers up to `max_age` old, with the other
    /// defaults.
    pub fn new(max_age: Duration) -> Self {
        StaleConfig {
            max_age,
            ..StaleConfig::default()
        }
    }

    /// The refresh interval in force: the configured one, else a second
    /// or `max_age`, whichever is shorter.
    pub fn effective_refresh(&self) -> Duration {
        self.refresh
            .unwrap_or_else(|| Duration::from_secs(1).min(self.max_age))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_duration(
            "max_age",
            self.max_age,
            Duration::from_nanos(1)..=MAX_DURATION,
        )?;
        if self.capacity == 0 || self.capacity > MAX_STALE_KEYS {
            return Err(ConfigError::new("capacity", "must be 1 to 1,000,000"));
        }
        if self.max_body == 0 || self.max_body > MAX_STALE_BODY {
            return Err(ConfigError::new("max_body", "must be 1 byte to 16 MiB"));
        }
        if self.max_bytes < self.max_body {
            return Err(ConfigError::new(
                "max_bytes",
                "must be at least max_body: a budget smaller than one body keeps nothing",
            ));
        }
        // Zero refreshes on every good answer: meaningful, if costly.
        check_duration(
            "refresh",
            self.effective_refresh(),
            Duration::ZERO..=self.max_age,
        )
    }
}

/// A [`FallbackLayer`]'s configuration, as data.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `fallback` | what it reports under |
/// | `response` | none | a fixed answer ([`FallbackResponse`]) |
/// | `stale` | none | the last good answer per key, served stale ([`StaleConfig`]); before `response` |
/// | `reasons` | every reason | the rejections that get a fallback (`circuit_open`, `timeout`, …) |
/// | `methods` | `GET`, `HEAD` | the methods covered: a write never silently gets a made-up answer |
/// | `any_method` | false | covers every method, writes included (`methods` is then unused) |
/// | `mark` | true | whether answers carry the marker header |
/// | `marker_header` | `x-fallback` | the marker header's name |
///
/// A fallback needs something to answer with: `response`, `stale`, or
/// (in code) an answer given to the builder. Answers built by a function
/// of the request are given in code with
/// [`respond_fn`](crate::FallbackLayerBuilder::respond_fn).
///
/// ```
/// use buttress_fallback::{FallbackConfig, FallbackLayer};
/// use buttress_core::Reason;
/// use std::time::Duration;
///
/// let config: FallbackConfig = toml::from_str(r#"
///     name = "recommendations"
///     reasons = ["circuit_open", "timeout"]
///     [response]
///     content_type = "application/json"
///     body = "[]"
///     [stale]
///     max_age = "5m"
/// "#).unwrap();
/// assert_eq!(config.stale.as_ref().unwrap().max_age, Duration::from_secs(300));
/// assert_eq!(config.reasons, Some(vec![Reason::CircuitOpen, Reason::Timeout]));
/// assert!(FallbackLayer::from_config(&config).is_ok());
/// assert!(toml::from_str::<FallbackConfig>("respnse = 1").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FallbackConfig {
    /// The name the layer reports under.
    pub name: Option<String>,
    /// A fixed answer, served when no stale one is. An answer given to
    /// the builder in code wins over it.
    pub response: Option<FallbackResponse>,
    /// The stale cache, if answers are served stale.
    pub stale: Option<StaleConfig>,
    /// The rejections that get a fallback; `None`: every reason.
    /// Rejections for other reasons pass through as errors.
    #[serde(with = "crate::serde_names::reasons")]
    pub reasons: Option<Vec<Reason>>,
    /// The methods covered (unless `any_method`).
    #[serde(with = "crate::serde_names::methods")]
    pub methods: Vec<Method>,
    /// Covers every method, writes included.
    pub any_method: bool,
    /// Whether fallback answers carry the marker header (they carry the
    /// [`FallbackCause`](crate::FallbackCause) in their extensions either
    /// way).
    pub mark: bool,
    /// The marker header's name.
    pub marker_header: String,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            name: None,
            response: None,
            stale: None,
            reasons: None,
            methods: vec![Method::GET, Method::HEAD],
            any_method: false,
            mark: true,
            marker_header: crate::X_FALLBACK.as_str().to_owned(),
        }
    }
}

impl FallbackConfig {
    /// Checks every field; `has_answer` says whether the builder holds an
    /// answer of its own (a response or a function given in code).
    pub(crate) fn check(&self, has_answer: bool) -> Result<(), ConfigError> {
        if let Some(response) = &self.response {
            response
                .to_response()
                .map_err(|e| e.in_section("response"))?;
        }
        if let Some(stale) = &self.stale {
            stale.validate().map_err(|e| e.in_section("stale"))?;
        }
        if !has_answer && self.response.is_none() && self.stale.is_none() {
            return Err(ConfigError::new(
                "response",
                "a fallback needs a response, a function or a stale cache",
            ));
        }
        if !self.any_method && self.methods.is_empty() {
            return Err(ConfigError::new(
                "methods",
                "must name at least one method (or set any_method)",
            ));
        }
        if self.mark {
            self.marker()?;
        }
        Ok(())
    }

    /// The marker header's name, parsed.
    pub(crate) fn marker(&self) -> Result<HeaderName, ConfigError> {
        HeaderName::from_bytes(self.marker_header.as_bytes())
            .map_err(|_| ConfigError::new("marker_header", "must be a valid header name"))
    }
}

impl LayerConfig for FallbackConfig {
    type Layer = FallbackLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.check(false)
    }

    fn build_in(&self, env: &BuildEnv) -> Result<FallbackLayer, ConfigError> {
        crate::layer::assemble(self, env, Default::default(), Extras::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_answer_is_an_empty_200() {
        let response = FallbackResponse::default().to_response().unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().is_empty());
    }

    #[test]
    fn fields_at_fault_are_named() {
        let field = |config: FallbackConfig| config.validate().unwrap_err().field().to_owned();
        let answer = || FallbackConfig {
            response: Some(FallbackResponse::new("application/json", "[]")),
            ..FallbackConfig::default()
        };
        assert_eq!(field(FallbackConfig::default()), "response");
        let bad_status = FallbackResponse {
            status: 42,
            ..FallbackResponse::default()
        };
        assert_eq!(
            field(FallbackConfig {
                response: Some(bad_status),
                ..answer()
            }),
            "response.status"
        );
        assert_eq!(
            field(FallbackConfig {
                response: Some(FallbackResponse::new("a\nb", "")),
                ..answer()
            }),
            "response.content_type"
        );
        assert_eq!(
            field(FallbackConfig {
                marker_header: "not a header".into(),
                ..answer()
            }),
            "marker_header"
        );
        // Unmarked, the header's name is not used.
        assert!(
            FallbackConfig {
                marker_header: "not a header".into(),
                mark: false,
                ..answer()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(
            field(FallbackConfig {
                methods: vec![],
                ..answer()
            }),
            "methods"
        );
        assert!(
            FallbackConfig {
                methods: vec![],
                any_method: true,
                ..answer()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(
            field(FallbackConfig {
                stale: Some(StaleConfig::new(MAX_DURATION * 2)),
                ..answer()
            }),
            "stale.max_age"
        );
    }

    #[test]
    fn the_refresh_interval_is_derived_from_the_max_age() {
        assert_eq!(
            StaleConfig::new(Duration::from_secs(60)).effective_refresh(),
            Duration::from_secs(1)
        );
        let short = StaleConfig::new(Duration::from_millis(300));
        assert_eq!(short.effective_refresh(), Duration::from_millis(300));
        assert!(short.validate().is_ok());
    }
}
