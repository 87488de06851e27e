//! The rate-limit layer and its handle.

use std::fmt;
use std::sync::Arc;

use buttress_core::keyed::KeyedStats;
use buttress_core::layer::{Bypass, LayerConfig, LayerHandle, Reconfigure, check_name, fixed};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::config::{RateLimitConfig, RateLimitLayerBuilder};
use super::distributed::DistributedStats;
use super::limiter::Limiter;
use super::service::RateLimit;
use crate::ConfigError;

/// Applies a [`RateLimit`]: each caller (key) gets a quota — `limit`
/// requests per `period`, `burst` at once — and a caller over it is
/// refused with [`Reason::RateLimited`](buttress_core::Reason::RateLimited),
/// a retry hint of when it would be admitted, and its quota figures.
///
/// The quota state is created when the layer is built and shared by every
/// service it wraps and every clone: axum applies a route's layers per
/// request and per connection, and they must all count against one quota.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::{Reason, Rejected};
/// use buttress_limit::rate::{KeySource, QuotaConfig, RateLimitLayer};
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = RateLimitLayer::builder()
///     .configure(|c| {
///         c.quota = QuotaConfig::per_minute(60).burst(2);
///         c.key = KeySource::Header("x-api-key".into());
///     })
///     .name("search")
///     .build()
///     .unwrap();
/// let handle = layer.handle();
/// let mut svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>("results")
/// });
/// let from = |key: &str| http::Request::get("/").header("x-api-key", key).body(()).unwrap();
///
/// assert_eq!(svc.ready().await.unwrap().call(from("alice")).await.unwrap(), "results");
/// assert_eq!(svc.ready().await.unwrap().call(from("alice")).await.unwrap(), "results");
/// let err = svc.ready().await.unwrap().call(from("alice")).await.unwrap_err();
/// let rejected = Rejected::find(&*err).unwrap();
/// assert_eq!(rejected.reason(), Reason::RateLimited);
/// assert!(rejected.retry_after().unwrap() <= Duration::from_secs(1));
/// assert_eq!(rejected.quota().unwrap().remaining, 0);
///
/// // Another caller has its own quota.
/// assert_eq!(svc.ready().await.unwrap().call(from("bob")).await.unwrap(), "results");
/// assert_eq!(handle.tracked_keys(), 2);
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

impl RateLimitLayer {
    /// A builder with the defaults of [`RateLimitConfig`]: change them
    /// with [`configure`](buttress_core::layer::LayerBuilder::configure);
    /// add a key function, a cost function or a trust policy of your own.
    pub fn builder() -> RateLimitLayerBuilder {
        RateLimitLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    pub(crate) fn new(limiter: Arc<Limiter>) -> Self {
        RateLimitLayer { limiter }
    }

    /// The handle that reads the limiter's keys and counters.
    pub fn handle(&self) -> RateLimitHandle {
        RateLimitHandle {
            limiter: self.limiter.clone(),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::new(inner, Some(self.limiter.clone()))
    }
}

impl<S> Bypass<S> for RateLimitLayer {
    /// Every request admitted, no quota kept.
    fn bypass(inner: S) -> RateLimit<S> {
        RateLimit::new(inner, None)
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish()
    }
}

/// Reads a [`RateLimitLayer`]'s keys and counters; every clone of the
/// layer shares them.
///
/// ```
/// use buttress_core::layer::{LayerConfig, LayerHandle};
/// use buttress_limit::rate::{KeySource, RateLimitConfig};
///
/// let config = RateLimitConfig { key: KeySource::PeerIp, ..RateLimitConfig::default() };
/// let handle = config.build().unwrap().handle();
/// assert_eq!(handle.id().name(), "rate_limit");
/// assert_eq!((handle.tracked_keys(), handle.limited()), (0, 0));
/// ```
#[derive(Clone)]
pub struct RateLimitHandle {
    limiter: Arc<Limiter>,
}

impl RateLimitHandle {
    /// Keys tracked now in the bounded map (override keys, held apart,
    /// are not counted; 0 for a global limit).
    pub fn tracked_keys(&self) -> usize {
        self.limiter.keyed_stats().map_or(0, |stats| stats.len)
    }

    /// The keyed map's counters (keys, capacity, evictions, overflows);
    /// `None` for a global limit.
    pub fn keyed_stats(&self) -> Option<KeyedStats> {
        self.limiter.keyed_stats()
    }

    /// Requests refused so far — in shadow mode, those that would have
    /// been.
    pub fn limited(&self) -> u64 {
        self.limiter.limited()
    }

    /// Of [`limited`](Self::limited), those refused by the `new_keys`
    /// quota: requests whose key had no slot of its own (0 for a global
    /// limit). A sustained rise is a caller inventing keys, or a map too
    /// small for the callers it serves.
    pub fn new_keys_limited(&self) -> u64 {
        self.limiter.new_keys_limited()
    }

    /// A distributed limit's counters: requests decided on the local
    /// share, Redis calls, errors, refills, and whether Redis is up
    /// (`None` for a local limit).
    pub fn distributed(&self) -> Option<DistributedStats> {
        self.limiter.distributed()
    }

    /// The settings the layer runs with now.
    pub fn config(&self) -> RateLimitConfig {
        let current = self.limiter.current.lock();
        current.unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Reconfigure for RateLimitHandle {
    type Config = RateLimitConfig;

    fn config(&self) -> RateLimitConfig {
        RateLimitHandle::config(self)
    }

    /// The quotas — `quota`, each override's `quota` and `new_keys` —
    /// may change while the layer runs; every key keeps what it has
    /// spent. What a key is and which class it falls in (the key source,
    /// the overrides' classes and keys, `max_keys`, `keep_idle`, the
    /// trusted proxies, the IPv6 prefix), the mode and the distributed
    /// section (whose quotas live in Redis' script calls too) are fixed
    /// once built.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_limit::rate::{KeySource, QuotaConfig, RateLimitConfig, RateLimitLayer};
    ///
    /// let config = RateLimitConfig { key: KeySource::PeerIp, ..RateLimitConfig::default() };
    /// let handle = RateLimitLayer::from_config(&config).unwrap().handle();
    /// let tighter = RateLimitConfig { quota: QuotaConfig::per_second(10), ..config.clone() };
    /// handle.reconfigure(&tighter).unwrap();
    /// assert_eq!(handle.config().quota, QuotaConfig::per_second(10));
    /// let rekeyed = RateLimitConfig { key: KeySource::Global, ..config };
    /// assert_eq!(handle.reconfigure(&rekeyed).unwrap_err().field(), "key");
    /// ```
    fn check(&self, config: &RateLimitConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())?;
        let built = &self.limiter.config;
        fixed("key", &built.key, &config.key)?;
        let classes = |c: &RateLimitConfig| -> Vec<(String, Vec<String>)> {
            c.overrides
                .iter()
                .map(|o| (o.class.clone(), o.keys.clone()))
                .collect()
        };
        fixed("overrides", &classes(built), &classes(config))?;
        fixed("max_keys", &built.max_keys, &config.max_keys)?;
        fixed("keep_idle", &built.keep_idle, &config.keep_idle)?;
        fixed(
            "trusted_proxies",
            &built.trusted_proxies,
            &config.trusted_proxies,
        )?;
        fixed(
            "forwarded_header",
            &built.forwarded_header,
            &config.forwarded_header,
        )?;
        fixed("ipv6_prefix", &built.ipv6_prefix, &config.ipv6_prefix)?;
        fixed("mode", &built.mode, &config.mode)?;
        fixed("distributed", &built.distributed, &config.distributed)?;
        if built.distributed.is_some() {
            let running = self.config();
            fixed("quota", &running.quota, &config.quota)?;
            fixed("overrides", &running.overrides, &config.overrides)?;
            fixed("new_keys", &running.new_keys, &config.new_keys)?;
        }
        Ok(())
    }

    fn reconfigure(&self, config: &RateLimitConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        self.limiter.reconfigure(config);
        Ok(())
    }
}

/// The layer's own identity: its name without a class. Telemetry reports
/// each key class apart, as `<name>/<class>`.
impl LayerHandle for RateLimitHandle {
    fn id(&self) -> &LayerId {
        &self.limiter.id
    }
}

impl fmt::Debug for RateLimitHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitHandle")
            .field("id", self.id())
            .field("limited", &self.limiter.limited())
            .finish()
    }
}
