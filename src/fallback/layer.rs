//! [`FallbackLayer`] and [`FallbackBuilder`].

use std::sync::Arc;
use std::time::Duration;

use buttress_core::Reason;
use buttress_core::classify::HttpClassifier;
use buttress_core::config::ConfigError;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, Method, Response};
use tower_layer::Layer;

use super::Fallback;
use super::answer::{Failure, Marker, Respond};
use super::shared::Shared;
use super::stale::{KeyFn, StaleCache, default_key};

/// The default marker header.
pub const X_FALLBACK: HeaderName = HeaderName::from_static("x-fallback");

/// The most keys a stale cache may be configured to hold.
const MAX_STALE_KEYS: usize = 1_000_000;

/// The largest body a stale cache may be configured to keep.
const MAX_STALE_BODY: usize = 16 * 1024 * 1024;

/// Applies [`Fallback`] to services; see the [module documentation](super).
///
/// The layer holds the shared state — the stale cache, the answers, the
/// telemetry handle — so every service it wraps shares one cache however
/// often a framework calls [`Layer::layer`].
pub struct FallbackLayer<C = HttpClassifier> {
    shared: Arc<Shared<C>>,
}

impl FallbackLayer<HttpClassifier> {
    /// A builder for the fallback of the dependency `name` (the name it
    /// reports under), judging calls with the default [`HttpClassifier`].
    pub fn builder(name: impl Into<Arc<str>>) -> FallbackBuilder<HttpClassifier> {
        FallbackBuilder {
            name: name.into(),
            classifier: HttpClassifier::default(),
            reasons: all_reasons(),
            methods: Some(vec![Method::GET, Method::HEAD]),
            respond: None,
            stale: None,
            marker: Some(X_FALLBACK),
            sink: None,
        }
    }
}

impl<C> FallbackLayer<C> {
    /// Keys held in the stale cache now (zero without one).
    pub fn stale_keys(&self) -> usize {
        self.shared.stale.as_ref().map_or(0, |stale| stale.len())
    }
}

impl<C> Clone for FallbackLayer<C> {
    fn clone(&self) -> Self {
        FallbackLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<S, C> Layer<S> for FallbackLayer<C> {
    type Service = Fallback<S, C>;

    fn layer(&self, inner: S) -> Fallback<S, C> {
        Fallback::new(inner, self.shared.clone())
    }
}

impl<C> std::fmt::Debug for FallbackLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("name", &self.shared.telemetry.layer().name())
            .field("methods", &self.shared.methods)
            .field("respond", &self.shared.respond)
            .field("stale", &self.shared.stale)
            .finish()
    }
}

fn all_reasons() -> u32 {
    Reason::ALL
        .iter()
        .fold(0, |bits, reason| bits | 1 << reason.index())
}

struct StaleSettings {
    max_age: Duration,
    capacity: usize,
    max_body: usize,
    refresh: Option<Duration>,
    key: Arc<KeyFn>,
}

/// Builds a [`FallbackLayer`].
///
/// A fallback needs something to answer with: a fixed response
/// ([`respond_with`](Self::respond_with)), a function
/// ([`respond_fn`](Self::respond_fn)), the last good answer
/// ([`serve_stale`](Self::serve_stale)), or a stale answer with a fixed
/// or built one behind it for keys never seen.
///
/// ```
/// use buttress::fallback::FallbackLayer;
/// use buttress::Reason;
/// use std::time::Duration;
///
/// let layer = FallbackLayer::builder("recommendations")
///     .serve_stale(Duration::from_secs(300))
///     .respond_with(http::Response::new("[]"))
///     .on_reasons([Reason::CircuitOpen, Reason::Timeout, Reason::FaultInjected])
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// let err = FallbackLayer::builder("recommendations").build().unwrap_err();
/// assert_eq!(err.field(), "respond");
/// ```
pub struct FallbackBuilder<C> {
    name: Arc<str>,
    classifier: C,
    reasons: u32,
    methods: Option<Vec<Method>>,
    respond: Option<Respond>,
    stale: Option<StaleSettings>,
    marker: Option<HeaderName>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl<C> FallbackBuilder<C> {
    /// Answers with this response (cloned per answer).
    pub fn respond_with(mut self, response: Response<impl Into<Bytes>>) -> Self {
        self.respond = Some(Respond::fixed(response.map(Into::into)));
        self
    }

    /// Answers with what `build` makes of the request's head and the
    /// failure. The head is cloned for every covered request, so only
    /// configure a function when the answer depends on the request.
    ///
    /// ```
    /// use buttress::fallback::{Failure, FallbackLayer};
    ///
    /// let layer = FallbackLayer::builder("profile")
    ///     .respond_fn(|head: &http::request::Parts, failure: &Failure<'_>| {
    ///         let body = format!("{{\"path\":\"{}\",\"degraded\":true}}", head.uri.path());
    ///         let _ = failure.cause();
    ///         http::Response::new(body.into())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn respond_fn<F>(mut self, build: F) -> Self
    where
        F: Fn(&Parts, &Failure<'_>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.respond = Some(Respond::Function(Arc::new(build)));
        self
    }

    /// Keeps the last good answer per key and serves it, up to `max_age`
    /// old, when a call fails. Answers come first from this cache, then
    /// from [`respond_with`](Self::respond_with) / [`respond_fn`](Self::respond_fn).
    /// Defaults: 1,000 keys, bodies up to 64 KiB, refreshed at most once a
    /// second per key, keyed by method and URI.
    pub fn serve_stale(mut self, max_age: Duration) -> Self {
        self.stale_mut().max_age = max_age;
        self
    }

    fn stale_mut(&mut self) -> &mut StaleSettings {
        self.stale.get_or_insert_with(|| StaleSettings {
            max_age: Duration::ZERO,
            capacity: 1_000,
            max_body: 64 * 1024,
            refresh: None,
            key: Arc::new(default_key),
        })
    }

    /// The most keys the stale cache holds (default 1,000). When every
    /// key holds a fresh answer, new keys are not cached.
    pub fn stale_capacity(mut self, keys: usize) -> Self {
        self.stale_mut().capacity = keys;
        self
    }

    /// The largest body kept (default 64 KiB); larger answers pass
    /// through uncached.
    pub fn stale_max_body(mut self, bytes: usize) -> Self {
        self.stale_mut().max_body = bytes;
        self
    }

    /// How often a key's kept answer is replaced by a newer good one
    /// (default 1 s, at most `max_age`). Between refreshes a good answer
    /// costs one shared lock and is not copied.
    pub fn stale_refresh(mut self, every: Duration) -> Self {
        self.stale_mut().refresh = Some(every);
        self
    }

    /// How a request's cache key is made; `None` keeps a request out of
    /// the cache (default: method and URI).
    pub fn stale_key<F>(mut self, key: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.stale_mut().key = Arc::new(key);
        self
    }

    /// Judges calls with `classifier` instead (e.g. a
    /// [`GrpcClassifier`](buttress_core::classify::GrpcClassifier)).
    pub fn classifier<C2>(self, classifier: C2) -> FallbackBuilder<C2> {
        FallbackBuilder {
            name: self.name,
            classifier,
            reasons: self.reasons,
            methods: self.methods,
            respond: self.respond,
            stale: self.stale,
            marker: self.marker,
            sink: self.sink,
        }
    }

    /// The rejections that get a fallback (default: every reason).
    /// Rejections for other reasons pass through as errors.
    pub fn on_reasons(mut self, reasons: impl IntoIterator<Item = Reason>) -> Self {
        self.reasons = reasons
            .into_iter()
            .filter(|reason| reason.index() < 32)
            .fold(0, |bits, reason| bits | 1 << reason.index());
        self
    }

    /// The methods covered (default GET and HEAD: a write never silently
    /// gets a made-up answer).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Some(methods.into_iter().collect());
        self
    }

    /// Covers every method, writes included.
    pub fn any_method(mut self) -> Self {
        self.methods = None;
        self
    }

    /// The header marking fallback answers (default `x-fallback`).
    pub fn marker_header(mut self, name: HeaderName) -> Self {
        self.marker = Some(name);
        self
    }

    /// Leaves fallback answers unmarked (they still carry the
    /// [`FallbackCause`](buttress_core::telemetry::FallbackCause) in their
    /// extensions).
    pub fn no_marker(mut self) -> Self {
        self.marker = None;
        self
    }

    /// Report to this sink instead of the global one.
    pub fn sink(mut self, sink: Arc<dyn TelemetrySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Validates and builds the layer, registering it with telemetry as
    /// `fallback/<name>`.
    pub fn build(self) -> Result<FallbackLayer<C>, ConfigError> {
        if self.respond.is_none() && self.stale.is_none() {
            return Err(ConfigError::new(
                "respond",
                "a fallback needs a response, a function or a stale cache",
            ));
        }
        if self.methods.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::new("methods", "must name at least one method"));
        }
        let stale = match self.stale {
            Some(stale) => Some(Arc::new(validate_stale(stale)?)),
            None => None,
        };
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Fallback, self.name),
            None => Telemetry::register(LayerKind::Fallback, self.name),
        };
        Ok(FallbackLayer {
            shared: Arc::new(Shared {
                classifier: self.classifier,
                reasons: self.reasons,
                methods: self.methods,
                stale,
                respond: self.respond,
                marker: self.marker.map(Marker::new),
                telemetry,
            }),
        })
    }
}

fn validate_stale(stale: StaleSettings) -> Result<StaleCache, ConfigError> {
    let problem = |field: &'static str, problem: &'static str| {
        Err(ConfigError::new(field, problem).in_section("stale"))
    };
    if stale.max_age.is_zero() {
        return problem("max_age", "must be greater than zero");
    }
    if stale.capacity == 0 || stale.capacity > MAX_STALE_KEYS {
        return problem("capacity", "must be 1 to 1,000,000");
    }
    if stale.max_body == 0 || stale.max_body > MAX_STALE_BODY {
        return problem("max_body", "must be 1 byte to 16 MiB");
    }
    let refresh = stale
        .refresh
        .unwrap_or_else(|| Duration::from_secs(1).min(stale.max_age));
    if refresh > stale.max_age {
        return problem("refresh", "must be at most max_age");
    }
    Ok(StaleCache::new(
        stale.capacity,
        stale.max_age,
        stale.max_body,
        refresh,
        stale.key,
    ))
}

impl<C> std::fmt::Debug for FallbackBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackBuilder")
            .field("name", &self.name)
            .field("methods", &self.methods)
            .field("respond", &self.respond)
            .field("stale", &self.stale.as_ref().map(|s| s.max_age))
            .field("marker", &self.marker)
            .finish()
    }
}
