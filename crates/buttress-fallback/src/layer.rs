//! [`FallbackLayer`], its builder and its handle.

use std::sync::Arc;

use buttress_core::Reason;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{LayerId, LayerKind};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, Response};
use tower_layer::Layer;

use crate::Fallback;
use crate::answer::{Failure, Marker, Respond};
use crate::config::FallbackConfig;
use crate::shared::Shared;
use crate::stale::{KeyFn, StaleCache, default_key};

/// The default marker header.
pub const X_FALLBACK: HeaderName = HeaderName::from_static("x-fallback");

/// Applies [`Fallback`] to services; see the [crate documentation](crate).
///
/// The layer holds the shared state — the stale cache, the answers, the
/// telemetry handle — so every service it wraps shares one cache however
/// often a framework calls [`Layer::layer`].
pub struct FallbackLayer<C = DefaultClassifier> {
    shared: Arc<Shared<C>>,
}

impl FallbackLayer {
    /// A builder, judging calls with the [`DefaultClassifier`] until
    /// [`classifier`](FallbackLayerBuilder::classifier) says otherwise.
    pub fn builder() -> FallbackLayerBuilder {
        FallbackLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &FallbackConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<C> FallbackLayer<C> {
    /// The handle that reads the layer's state.
    pub fn handle(&self) -> FallbackHandle {
        FallbackHandle {
            id: self.shared.telemetry.layer().clone(),
            stale: self.shared.stale.clone(),
        }
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

/// Reads a [`FallbackLayer`]'s state: every clone of the layer, and every
/// service it wrapped, shares it.
///
/// ```
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_fallback::{FallbackLayer, StaleConfig};
/// use std::time::Duration;
///
/// let layer = FallbackLayer::builder()
///     .configure(|c| c.stale = Some(StaleConfig::new(Duration::from_secs(60))))
///     .name("recommendations")
///     .build()
///     .unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "recommendations");
/// assert_eq!((handle.stale_keys(), handle.stale_bytes()), (0, 0));
/// ```
#[derive(Debug, Clone)]
pub struct FallbackHandle {
    id: LayerId,
    stale: Option<Arc<StaleCache>>,
}

impl FallbackHandle {
    /// Keys held in the stale cache now (zero without one).
    pub fn stale_keys(&self) -> usize {
        self.stale.as_ref().map_or(0, |stale| stale.len())
    }

    /// Bytes the stale cache holds now, as charged against its
    /// `max_bytes`: keys, headers and bodies, with a conservative
    /// estimate of the bookkeeping around them (zero without one).
    pub fn stale_bytes(&self) -> usize {
        self.stale.as_ref().map_or(0, |stale| stale.bytes())
    }
}

impl LayerHandle for FallbackHandle {
    fn id(&self) -> &LayerId {
        &self.id
    }
}

/// What a builder holds beyond the config: answers and keys given as
/// code.
#[derive(Default)]
pub(crate) struct Extras {
    /// An answer given in code; wins over the config's `response`.
    respond: Option<Respond>,
    /// How stale cache keys are made, if not by method and URI.
    stale_key: Option<Arc<KeyFn>>,
}

/// Validates `config` and builds the layer in `env`.
pub(crate) fn assemble<C>(
    config: &FallbackConfig,
    env: &BuildEnv,
    classifier: C,
    extras: Extras,
) -> Result<FallbackLayer<C>, ConfigError> {
    config.check(extras.respond.is_some())?;
    let respond = match extras.respond {
        Some(respond) => Some(respond),
        None => match &config.response {
            Some(response) => Some(Respond::fixed(
                response
                    .to_response()
                    .map_err(|e| e.in_section("response"))?,
            )),
            None => None,
        },
    };
    let stale = config.stale.as_ref().map(|stale| {
        let key = extras
            .stale_key
            .clone()
            .unwrap_or_else(|| Arc::new(default_key));
        Arc::new(StaleCache::new(stale, key))
    });
    let marker = match config.mark {
        true => Some(Marker::new(config.marker()?)),
        false => None,
    };
    let reasons = match &config.reasons {
        Some(reasons) => reasons
            .iter()
            .filter(|reason| reason.index() < 32)
            .fold(0, |bits, reason| bits | 1 << reason.index()),
        None => Reason::ALL
            .iter()
            .fold(0, |bits, reason| bits | 1 << reason.index()),
    };
    let telemetry = env.telemetry(LayerKind::Fallback, config.name.as_deref());
    Ok(FallbackLayer {
        shared: Arc::new(Shared {
            classifier,
            reasons,
            methods: (!config.any_method).then(|| config.methods.clone()),
            stale,
            respond,
            marker,
            telemetry,
        }),
    })
}

/// Builds a [`FallbackLayer`].
///
/// Its settings are a [`FallbackConfig`], set with
/// [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config): a fixed `response`, a
/// `stale` cache, the `reasons` and `methods` covered, the marker.
/// `.name(..)`, `.sink(..)` and `.env(..)` come from [`LayerBuilder`] too.
/// What is code, not data, is the builder's own: an answer in code
/// ([`respond_with`](Self::respond_with), [`respond_fn`](Self::respond_fn)),
/// the stale cache's key ([`stale_key`](Self::stale_key)) and the
/// [`classifier`](Self::classifier).
///
/// A fallback needs something to answer with: a fixed response (the
/// config's `response` as data, [`respond_with`](Self::respond_with) in
/// code), a function ([`respond_fn`](Self::respond_fn)), the last good
/// answer (the config's `stale`), or a stale answer with a fixed or built
/// one behind it for keys never seen.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::Reason;
/// use buttress_fallback::{FallbackConfig, FallbackLayer, StaleConfig};
/// use std::time::Duration;
///
/// let layer = FallbackLayer::builder()
///     .configure(|c| {
///         c.stale = Some(StaleConfig::new(Duration::from_secs(300)));
///         c.reasons = Some(vec![Reason::CircuitOpen, Reason::Timeout, Reason::FaultInjected]);
///     })
///     .name("recommendations")
///     .respond_with(http::Response::new("[]"))
///     .stale_key(|head: &http::request::Parts| Some(head.uri.path().to_owned()))
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// // A whole config at once, as loaded from a file:
/// let config = FallbackConfig { any_method: true, ..FallbackConfig::default() };
/// let builder = FallbackLayer::builder().with_config(config).name("recommendations");
/// assert!(builder.config().any_method);
/// assert_eq!(builder.build().unwrap_err().field(), "response");
/// ```
#[derive(Default)]
pub struct FallbackLayerBuilder<C = DefaultClassifier> {
    config: FallbackConfig,
    env: BuildEnv,
    classifier: C,
    extras: Extras,
}

impl<C> LayerBuilder for FallbackLayerBuilder<C> {
    type Config = FallbackConfig;

    fn config(&self) -> &FallbackConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut FallbackConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<C> FallbackLayerBuilder<C> {
    /// Answers with this response (cloned per answer): any status,
    /// headers and body. Replaces an answer given in code before, and wins
    /// over the config's `response`.
    pub fn respond_with(mut self, response: Response<impl Into<Bytes>>) -> Self {
        self.extras.respond = Some(Respond::fixed(response.map(Into::into)));
        self
    }

    /// Answers with what `build` makes of the request's head and the
    /// failure. Replaces an answer given in code before, and wins over the
    /// config's `response`. The head is cloned for every covered request,
    /// so only configure a function when the answer depends on the
    /// request.
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_fallback::{Failure, FallbackLayer};
    ///
    /// let layer = FallbackLayer::builder()
    ///     .name("profile")
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
        self.extras.respond = Some(Respond::Function(Arc::new(build)));
        self
    }

    /// How a request's stale cache key is made; `None` keeps a request out
    /// of the cache (default: method and URI). Used only with the config's
    /// `stale` cache.
    pub fn stale_key<F>(mut self, key: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.extras.stale_key = Some(Arc::new(key));
        self
    }

    /// Judges calls with `classifier` instead of the
    /// [`DefaultClassifier`] (e.g. `AnyErrorFails` for a service whose
    /// answers are not HTTP statuses).
    pub fn classifier<C2>(self, classifier: C2) -> FallbackLayerBuilder<C2> {
        FallbackLayerBuilder {
            config: self.config,
            env: self.env,
            classifier,
            extras: self.extras,
        }
    }

    /// Validates and builds the layer, registering it with telemetry.
    pub fn build(self) -> Result<FallbackLayer<C>, ConfigError> {
        assemble(&self.config, &self.env, self.classifier, self.extras)
    }
}

impl<C> std::fmt::Debug for FallbackLayerBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("respond", &self.extras.respond)
            .field("stale_key", &self.extras.stale_key.is_some())
            .finish()
    }
}
