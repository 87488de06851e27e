//! Rate-limit settings, their builder and validation.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::TrustPolicy;
use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::context::TrustRequest;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};
use http::HeaderName;

use super::distributed::RedisRateConfig;
use super::forwarded::ForwardedHeader;
use super::key::{Extractor, Key, KeySource, MAX_KEY_LEN};
use super::layer::RateLimitLayer;
use super::limiter::{CostFn, Limiter};
use super::quota::{QuotaConfig, QuotaOverride, is_token};
use crate::ConfigError;

/// Whether the limit is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitMode {
    /// Requests over quota are refused with
    /// [`Reason::RateLimited`](buttress_core::Reason::RateLimited).
    #[default]
    Enforce,
    /// Requests over quota pass; they are only counted (and reported to
    /// telemetry as rejections under `<name>/<class>/shadow`), to try a
    /// quota on live traffic before enforcing it.
    Shadow,
}

/// A rate limit's configuration, as data (loadable from TOML or JSON,
/// durations written like `"1s"`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `rate_limit` | what it reports under, as `<name>/<class>` |
/// | `key` | global | where each request's key comes from ([`KeySource`]) |
/// | `quota` | 100 per second, burst 100 | the quota of every key without an override |
/// | `overrides` | none | quotas for named keys, each its own class |
/// | `max_keys` | 10,000 | the most keys tracked at once |
/// | `new_keys` | 1,000 per second, burst 10,000 | one quota shared by every request whose key has no slot of its own |
/// | `keep_idle` | 1 min | how long a key seen more than once keeps its slot once its bucket is full, 0 to 1 day |
/// | `trusted_proxies` | none | proxies whose forwarded header is believed |
/// | `forwarded_header` | `x-forwarded-for` | which forwarded header they maintain |
/// | `ipv6_prefix` | 64 | leading bits of an IPv6 address that make its key |
/// | `mode` | enforce | enforce, or only count (shadow) |
/// | `distributed` | none (local) | share each key's quota across replicas through Redis ([`RedisRateConfig`], feature `redis`) |
///
/// A key taken from a route or a function, a request's cost and a
/// [`TrustPolicy`] of your own are not data: set them on the
/// [builder](RateLimitLayerBuilder).
///
/// ```
/// use buttress_limit::rate::{KeySource, QuotaConfig, QuotaOverride, RateLimitConfig, RateLimitLayer};
///
/// let config = RateLimitConfig {
///     name: Some("public-api".into()),
///     key: KeySource::Header("x-api-key".into()),
///     quota: QuotaConfig::per_second(10).burst(20),
///     overrides: vec![QuotaOverride::new("partner", QuotaConfig::per_second(500)).keys(["k-acme"])],
///     max_keys: 50_000,
///     ..RateLimitConfig::default()
/// };
/// let layer = RateLimitLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().tracked_keys(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The name the layer reports under (`None`: the stack's name, else
    /// `rate_limit`): each key class reports as `<name>/<class>`
    /// (`api/default`, `api/premium`).
    pub name: Option<String>,
    /// Where each request's key comes from.
    pub key: KeySource,
    /// The quota of every key without an override (class `default`).
    pub quota: QuotaConfig,
    /// Quotas for named keys (tenants, partners), each its own class.
    pub overrides: Vec<QuotaOverride>,
    /// The most keys tracked at once, each with its own quota; beyond
    /// that, keys seen once and refilled make room first, then keys idle
    /// past `keep_idle`. A caller with spent quota is never evicted.
    pub max_keys: usize,
    /// One quota for every request whose key has no slot of its own: a
    /// key not seen before (or evicted since), and any key that finds the
    /// map full of keys worth keeping. A key it admits gets a slot when
    /// there is room, and from then on only its own quota counts; keys
    /// with a slot are never charged to it. So a caller inventing a key
    /// per request gets `new_keys` in all (not a whole quota per invented
    /// key), however fast it rotates, and a key that was tracked before
    /// the flood keeps its own quota. The default (1,000 a second, burst
    /// 10,000: a full map's worth of callers coming back at once, as after
    /// a restart) suits a busy public API; lower it where new callers are
    /// rare (API keys, tenants).
    pub new_keys: QuotaConfig,
    /// How long a key seen more than once keeps its slot after its bucket
    /// is full again, before a new key may take it; 0 to 1 day. Keys seen
    /// once (all a key-rotating caller sends) make room as soon as their
    /// bucket refills. A returning caller evicted after this time passes
    /// `new_keys` again.
    #[serde(with = "humantime_serde")]
    pub keep_idle: Duration,
    /// The proxies (CIDR or address) whose forwarded header is believed,
    /// for [`KeySource::Forwarded`]. A `/0` network (every peer) is
    /// refused: any caller could then choose its own key.
    pub trusted_proxies: Vec<String>,
    /// Which forwarded header those proxies maintain.
    pub forwarded_header: ForwardedHeader,
    /// IPv6 clients are keyed by this many leading bits of their address
    /// (one client commonly holds a whole /64). 1 to 128.
    pub ipv6_prefix: u8,
    /// Enforce, or only count.
    pub mode: RateLimitMode,
    /// A fleet-wide limit: every key's quota shared by all replicas,
    /// its state in Redis (`[server.rate_limit.distributed]` in TOML).
    /// `None`: each replica enforces the whole quota on its own. Building
    /// with `Some` needs the `redis` feature; see the
    /// [module documentation](super#fleet-wide-limits-on-redis).
    pub distributed: Option<RedisRateConfig>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            name: None,
            key: KeySource::Global,
            quota: QuotaConfig::default(),
            overrides: Vec::new(),
            max_keys: 10_000,
            new_keys: QuotaConfig::per_second(1_000).burst(10_000),
            keep_idle: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            ipv6_prefix: 64,
            mode: RateLimitMode::Enforce,
            distributed: None,
        }
    }
}

impl LayerConfig for RateLimitConfig {
    type Layer = RateLimitLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    /// Checks every field; a [`KeySource::Custom`] key fails here, since
    /// only the builder holds its function.
    fn validate(&self) -> Result<(), ConfigError> {
        self.check()?;
        if self.key == KeySource::Custom {
            return Err(custom_key_needs_builder());
        }
        Ok(())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<RateLimitLayer, ConfigError> {
        self.build_with(env, Extras::default())
    }
}

/// What only the builder can hold.
#[derive(Clone, Default)]
struct Extras {
    extractor: Option<Extractor>,
    trust: Option<TrustPolicy>,
    cost: Option<Arc<CostFn>>,
}

/// Refuses a forwarded key's trust policy that trusts every peer: any
/// caller could then write the address it is keyed by.
fn check_forwarded_trust(trust: &TrustPolicy, field: &'static str) -> Result<(), ConfigError> {
    if trust.trusts_every_peer() {
        return Err(ConfigError::new(
            field,
            "a forwarded key must not trust every peer (TrustPolicy::always(), a /0 network): \
             any caller could choose its own key; trust only your proxies",
        ));
    }
    Ok(())
}

fn custom_key_needs_builder() -> ConfigError {
    ConfigError::new(
        "key",
        "a route or function key is set on the builder (key_route, key_fn)",
    )
}

impl RateLimitConfig {
    /// The trust policy `trusted_proxies` describes.
    fn trusted_proxies_policy(&self) -> Result<TrustPolicy, ConfigError> {
        TrustPolicy::peers(&self.trusted_proxies)
            .map_err(|e| ConfigError::new("trusted_proxies", e.to_string()))
    }

    /// Checks every field but whether a custom key has its function.
    fn check(&self) -> Result<(), ConfigError> {
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        self.quota.validate().map_err(|e| e.in_section("quota"))?;
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        self.new_keys
            .validate()
            .map_err(|e| e.in_section("new_keys"))?;
        check_duration("keep_idle", self.keep_idle, Duration::ZERO..=MAX_DURATION)?;
        if self.ipv6_prefix == 0 || self.ipv6_prefix > 128 {
            return Err(ConfigError::new("ipv6_prefix", "must be between 1 and 128"));
        }
        if let KeySource::Header(name) = &self.key {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::new("key.header", "not a valid header name"))?;
        }
        if self.key == KeySource::Forwarded {
            check_forwarded_trust(&self.trusted_proxies_policy()?, "trusted_proxies")?;
        }
        if !self.overrides.is_empty() && self.key == KeySource::Global {
            return Err(ConfigError::new(
                "overrides",
                "need a per-key source: a global limit has one key",
            ));
        }
        if let Some(redis) = &self.distributed {
            redis.validate().map_err(|e| e.in_section("distributed"))?;
        }
        let mut classes = HashSet::new();
        let mut keys = HashSet::new();
        for (i, class) in self.overrides.iter().enumerate() {
            let section = format!("overrides[{i}]");
            if !is_token(&class.class) || class.class == "default" {
                return Err(ConfigError::new(
                    "class",
                    "must be a token (letters, digits, `-_.:/`, starting with a letter) other than `default`",
                )
                .in_section(&section));
            }
            if !classes.insert(class.class.as_str()) {
                return Err(ConfigError::new("class", "is named twice").in_section(&section));
            }
            class
                .quota
                .validate()
                .map_err(|e| e.in_section("quota").in_section(&section))?;
            for key in &class.keys {
                if key.is_empty() || key.len() > MAX_KEY_LEN {
                    return Err(
                        ConfigError::new("keys", "must be 1 to 256 bytes").in_section(&section)
                    );
                }
                if !keys.insert(key.as_str()) {
                    return Err(
                        ConfigError::new("keys", "a key is in two classes").in_section(&section)
                    );
                }
            }
        }
        Ok(())
    }
}

/// Builds a [`RateLimitLayer`]. Its settings are a [`RateLimitConfig`],
/// set with [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); the builder adds only what
/// is not data — a key taken from a route or a function, a request's cost,
/// a [`TrustPolicy`] of your own — and the environment it reports in
/// ([`LayerBuilder`]'s `name`, `sink`, `env`).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_limit::rate::{KeySource, QuotaConfig, RateLimitLayer, RateLimitMode};
///
/// let layer = RateLimitLayer::builder()
///     .configure(|c| {
///         c.key = KeySource::PeerIp;
///         c.quota = QuotaConfig::per_minute(600).burst(20);
///         c.mode = RateLimitMode::Shadow;
///     })
///     .name("search")
///     .cost(|req| if *req.method == http::Method::POST { 5 } else { 1 })
///     .sink(RecordingSink::new())
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().limited(), 0);
/// let zero = RateLimitLayer::builder().configure(|c| c.quota = QuotaConfig::per_second(0));
/// assert!(zero.build().is_err());
/// ```
#[derive(Clone, Default)]
pub struct RateLimitLayerBuilder {
    config: RateLimitConfig,
    env: BuildEnv,
    extras: Extras,
}

impl fmt::Debug for RateLimitLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("extractor", &self.extras.extractor)
            .field("trust", &self.extras.trust)
            .field("cost", &self.extras.cost.is_some())
            .finish()
    }
}

impl LayerBuilder for RateLimitLayerBuilder {
    type Config = RateLimitConfig;

    fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut RateLimitConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl RateLimitLayerBuilder {
    /// Keys by the client address a trusted proxy forwarded (the config's
    /// `key` becomes [`KeySource::Forwarded`]), trusting the proxies
    /// `trust` trusts rather than the config's `trusted_proxies`: the
    /// forwarded header is read only when `trust` trusts the request (its
    /// peer), and walked right to left past the addresses `trust` trusts
    /// ([`TrustPolicy::trusts_ip`]). A policy that trusts every peer
    /// ([`TrustPolicy::trusts_every_peer`]) makes `build` fail: any caller
    /// could then choose its own key.
    ///
    /// ```
    /// use buttress_core::TrustPolicy;
    /// use buttress_limit::rate::{KeySource, RateLimitLayer};
    /// # use buttress_core::layer::LayerBuilder;
    ///
    /// let proxies = TrustPolicy::peers(["10.0.0.0/8"]).unwrap();
    /// let builder = RateLimitLayer::builder().key_forwarded(proxies);
    /// assert_eq!(builder.config().key, KeySource::Forwarded);
    /// # builder.build().unwrap();
    /// let everyone = RateLimitLayer::builder().key_forwarded(TrustPolicy::always());
    /// assert_eq!(everyone.build().unwrap_err().field(), "key");
    /// ```
    pub fn key_forwarded(mut self, trust: TrustPolicy) -> Self {
        self.config.key = KeySource::Forwarded;
        self.extras.trust = Some(trust);
        self
    }

    /// Keys by route template, read from the extension `T` that the
    /// router stores — with axum, `key_route(MatchedPath::as_str)`. The
    /// config's `key` becomes [`KeySource::Custom`].
    ///
    /// ```
    /// use buttress_limit::rate::RateLimitLayer;
    ///
    /// #[derive(Clone)]
    /// struct Route(&'static str); // stands in for axum's `MatchedPath`
    ///
    /// let per_route = RateLimitLayer::builder().key_route(|route: &Route| route.0).build().unwrap();
    /// # let _ = per_route;
    /// ```
    pub fn key_route<T, F>(mut self, as_str: F) -> Self
    where
        T: Send + Sync + 'static,
        F: for<'a> Fn(&'a T) -> &'a str + Send + Sync + 'static,
    {
        self.config.key = KeySource::Custom;
        self.extras.extractor = Some(Extractor::route(as_str));
        self
    }

    /// Keys by a function of the request; `None` is the shared anonymous
    /// key. Borrow from the request where you can: a borrowed key costs
    /// no allocation. The config's `key` becomes [`KeySource::Custom`].
    ///
    /// ```
    /// use buttress_limit::rate::RateLimitLayer;
    /// use std::borrow::Cow;
    ///
    /// // The first path segment: one quota per API version.
    /// let layer = RateLimitLayer::builder()
    ///     .key_fn(|req| req.uri.path().split('/').nth(1).map(|s| Cow::Borrowed(s.as_bytes())))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn key_fn<F>(mut self, key: F) -> Self
    where
        F: for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, [u8]>> + Send + Sync + 'static,
    {
        self.config.key = KeySource::Custom;
        self.extras.extractor = Some(Extractor::custom(key));
        self
    }

    /// What each request costs in quota units (default 1). A request
    /// costing more than a burst is always refused, with no retry hint.
    pub fn cost<F>(mut self, cost: F) -> Self
    where
        F: Fn(&TrustRequest<'_>) -> u32 + Send + Sync + 'static,
    {
        self.extras.cost = Some(Arc::new(cost));
        self
    }

    /// Validates the settings and builds the layer, with its state.
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        self.config.build_with(&self.env, self.extras)
    }
}

impl RateLimitConfig {
    /// Validates, then builds the layer with the builder's extras.
    fn build_with(&self, env: &BuildEnv, extras: Extras) -> Result<RateLimitLayer, ConfigError> {
        self.check()?;
        let config = self;
        // The config says where the key comes from: the builder's
        // function only for a custom key, its trust policy only for a
        // forwarded one (a later `configure` that changes `key` wins).
        let extractor = match &config.key {
            KeySource::Global => Extractor::Global,
            KeySource::PeerIp => Extractor::PeerIp,
            KeySource::Forwarded => {
                let trust = match extras.trust {
                    Some(trust) => {
                        check_forwarded_trust(&trust, "key")?;
                        trust
                    }
                    None => config.trusted_proxies_policy()?,
                };
                Extractor::Forwarded {
                    trust,
                    header: config.forwarded_header,
                }
            }
            KeySource::Header(name) => Extractor::Header(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ConfigError::new("key.header", "not a valid header name"))?,
            ),
            KeySource::Custom => extras.extractor.ok_or_else(custom_key_needs_builder)?,
        };
        let mut pinned = Vec::new();
        for (i, class) in config.overrides.iter().enumerate() {
            for key in &class.keys {
                let bytes = if extractor.keys_by_address() {
                    let ip: std::net::IpAddr = key.parse().map_err(|_| {
                        ConfigError::new("keys", "must be IP addresses for an address key")
                            .in_section(&format!("overrides[{i}]"))
                    })?;
                    Key::address(ip, config.ipv6_prefix).to_vec()
                } else {
                    key.as_bytes().to_vec()
                };
                pinned.push((bytes, i + 1));
            }
        }
        let limiter = Arc::new(Limiter::new(
            config.clone(),
            env,
            extractor,
            pinned,
            extras.cost,
        )?);
        limiter.classes[0]
            .telemetry
            .describe_config(&limiter, |l| &l.current);
        Ok(RateLimitLayer::new(limiter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(change: impl FnOnce(&mut RateLimitConfig)) -> String {
        error_of(RateLimitLayer::builder().configure(change))
    }

    fn error_of(builder: RateLimitLayerBuilder) -> String {
        builder.build().unwrap_err().to_string()
    }

    fn header(name: &str) -> KeySource {
        KeySource::Header(name.into())
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error_of(RateLimitLayer::builder().name("")),
            "name: must not be empty"
        );
        assert_eq!(
            error(|c| c.quota = QuotaConfig::per_second(0)),
            "quota.limit: must be at least 1"
        );
        assert_eq!(error(|c| c.max_keys = 0), "max_keys: must be at least 1");
        assert_eq!(
            error(|c| c.new_keys = QuotaConfig::per_second(0)),
            "new_keys.limit: must be at least 1"
        );
        assert!(
            error(|c| c.keep_idle = std::time::Duration::from_secs(2 * 86_400))
                .starts_with("keep_idle:")
        );
        assert_eq!(
            error(|c| c.key = header("bad header")),
            "key.header: not a valid header name"
        );
        assert!(
            error(|c| c
                .overrides
                .push(QuotaOverride::new("gold", QuotaConfig::per_second(1))))
            .starts_with("overrides:")
        );
        let gold = || QuotaOverride::new("gold", QuotaConfig::per_second(5)).keys(["a"]);
        assert!(
            error(|c| {
                c.key = header("x-k");
                c.overrides = vec![gold(), gold()];
            })
            .starts_with("overrides[1].class")
        );
        assert!(
            error(|c| {
                c.key = header("x-k");
                c.overrides
                    .push(QuotaOverride::new("gold tier", QuotaConfig::per_second(5)));
            })
            .starts_with("overrides[0].class")
        );
        assert!(
            error(|c| {
                c.key = KeySource::PeerIp;
                c.overrides.push(gold());
            })
            .starts_with("overrides[0].keys")
        );
        assert_eq!(
            error(|c| {
                c.key = KeySource::Forwarded;
                c.trusted_proxies = vec!["10.0.0.0/33".into()];
            }),
            "trusted_proxies: invalid network: expected an IP address or CIDR like 10.0.0.0/8"
        );
        assert_eq!(
            error(|c| {
                c.key = header("x-tenant");
                c.overrides.push(
                    QuotaOverride::new("gold", QuotaConfig::new(1, std::time::Duration::ZERO))
                        .keys(["a"]),
                );
            }),
            "overrides[0].quota.period: must be at least 1ms"
        );
        assert!(error(|c| c.key = KeySource::Custom).starts_with("key:"));
        assert!(error(|c| c.ipv6_prefix = 0).starts_with("ipv6_prefix"));
    }

    #[test]
    fn a_forwarded_key_never_trusts_every_peer() {
        let always = error_of(RateLimitLayer::builder().key_forwarded(TrustPolicy::always()));
        assert!(
            always.starts_with("key: a forwarded key must not trust every peer"),
            "{always}"
        );
        let everyone = |nets: &[&str]| {
            let config = RateLimitConfig {
                key: KeySource::Forwarded,
                trusted_proxies: nets.iter().map(|net| (*net).to_owned()).collect(),
                ..RateLimitConfig::default()
            };
            let err = config.validate().unwrap_err();
            assert_eq!(err.field(), "trusted_proxies");
            assert!(err.problem().contains("trust every peer"), "{err}");
        };
        everyone(&["0.0.0.0/0"]);
        everyone(&["10.0.0.0/8", "::/0"]);
        // Other keys do not read the list.
        let peer = RateLimitConfig {
            trusted_proxies: vec!["0.0.0.0/0".into()],
            key: KeySource::PeerIp,
            ..RateLimitConfig::default()
        };
        peer.validate().unwrap();
        RateLimitLayer::builder()
            .key_forwarded(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
            .build()
            .unwrap();
    }

    #[test]
    fn the_config_says_where_the_key_comes_from() {
        // A key function, then a data key: the data key wins, as the
        // config is what says where the key comes from...
        let builder = RateLimitLayer::builder()
            .key_fn(|_| None)
            .configure(|c| c.key = KeySource::PeerIp);
        assert_eq!(builder.config().key, KeySource::PeerIp);
        builder.build().unwrap();
        // ...a custom key needs the builder's function, which a whole new
        // config (data only) leaves in place.
        let custom = RateLimitConfig {
            key: KeySource::Custom,
            ..RateLimitConfig::default()
        };
        let without = RateLimitLayer::builder().with_config(custom.clone());
        assert!(error_of(without).starts_with("key:"));
        let with = RateLimitLayer::builder()
            .key_fn(|_| None)
            .with_config(custom);
        with.build().unwrap();
    }
}
