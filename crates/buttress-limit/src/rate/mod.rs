//! Per-caller rate limits: a quota per key, on GCRA.
//!
//! A gateway or public API must keep one caller from taking everyone's
//! capacity. [`RateLimitLayer`] gives each caller — each *key*: the peer
//! address, the client address behind trusted proxies, an API-key or
//! tenant header, the route template, or any function of the request — a
//! quota of `limit` requests per `period` with a `burst`, and refuses the
//! excess at once with [`Reason::RateLimited`](buttress_core::Reason::RateLimited):
//! a retry hint of exactly when the next request would be admitted
//! (`Retry-After`, rounded up to whole seconds by the edge) and the quota
//! figures (the `RateLimit-Policy` and `RateLimit` fields of
//! draft-ietf-httpapi-ratelimit-headers-09). Named keys (tenants,
//! partners) can have their own quota, each a *class* that telemetry
//! reports apart (`<name>/<class>`; never per raw key).
//!
//! # Why GCRA on one atomic, not `governor`
//!
//! The generic cell rate algorithm keeps one number per key, the
//! *theoretical arrival time* at which its bucket is full again; a
//! decision is a load, some arithmetic and a compare-and-swap. `governor`
//! implements the same algorithm, but fitting it to Buttress costs more
//! than the algorithm: its keyed state store is addressed by an owned key
//! (`measure_and_replace(&K, ..)`), so a key borrowed from a header would
//! be copied into a fresh `String` on every request, where the request
//! path must not allocate; its keyed eviction (`retain_recent`) knows
//! nothing of core's fail-safe overflow rule, so the store would be ours
//! anyway; and its clock is a trait we would implement over tokio time,
//! which simulations pause. What
//! is left of it is twenty lines of arithmetic, so the cell is ours: tokio
//! time (simulations run on a paused clock), keys in core's
//! [`KeyedMap`](buttress_core::keyed::KeyedMap) looked up by borrowed
//! bytes, the neutral state (a full bucket, `tat ≤ now`) trivial to
//! answer, and no new dependency.
//!
//! # Keys and memory
//!
//! Keys live in core's bounded keyed map (`max_keys`): a flood of invented
//! keys cannot grow memory past it. Nor can it buy quota: a request whose
//! key has no slot in the map — a key not seen before, or one that finds
//! the map full — is decided first against `new_keys`, one quota shared
//! by every such request, and only if admitted there gets a slot (and its
//! own quota) when there is room. A caller inventing a key per request
//! therefore gets `new_keys` in all, however fast it rotates, instead of a
//! burst per invented key; while a key that already had a slot is never
//! charged to `new_keys`, and keeps its own quota through the flood.
//!
//! Making room follows what losing a slot would cost. A key seen once (all
//! a rotating caller sends) makes room as soon as its bucket is full
//! again; a key seen more than once keeps its slot until it has been idle,
//! bucket full, for `keep_idle`; a key with spent quota is never evicted —
//! a spent quota is never reset to make room. When every slot is worth
//! keeping, a new key passes on `new_keys` alone, without a slot. So
//! after a flood stops, `new_keys` refills and the invented keys' slots
//! free up within a refill: new callers are admitted again. This is the
//! bounded-map-plus-aggregate shape of Envoy's local rate limit (its
//! bucket for requests no descriptor matches), with no overflow bucket a
//! caller could drain for the keys that hold a slot. Override keys are
//! held apart for the layer's life and never charged to `new_keys`.
//! Looking up a tracked key takes a shared lock on one shard and
//! allocates nothing.
//!
//! # Forwarded addresses
//!
//! [`KeySource::Forwarded`] reads `X-Forwarded-For` (or `Forwarded`) only
//! when the peer is a trusted proxy by core's
//! [`TrustPolicy`](buttress_core::TrustPolicy), and takes the rightmost
//! address that is not itself a trusted proxy: the entries to its left
//! are whatever the client sent, and would let it pick its own key. Like
//! nginx's `real_ip_recursive` and Envoy's `xff_num_trusted_hops`, it
//! reads the header from the right and only as far as the client, so a
//! client padding its header (4 KiB of invented hops) changes nothing. A
//! chain that a trusted hop reports but that cannot be read to the client
//! — an entry that is not an address (`unknown`, garbage), more than 32
//! trusted hops, more than 4 KiB before the client — is keyed to one
//! shared `unattributable` key, never to the proxy's own address: no
//! client can spend the proxy's quota. A trust policy that trusts every
//! peer (`TrustPolicy::always()`, a `/0` network) is refused when the
//! layer is built, since it would let any caller choose its own key.
//!
//! # Fleet-wide limits on Redis
//!
//! Every limit above is per replica: ten replicas give a tenant ten
//! quotas. With `distributed` set ([`RedisRateConfig`], feature `redis`)
//! the same keys, quotas, overrides, `new_keys` and `RateLimit` figures
//! hold across the fleet: each key's state lives in Redis, as GCRA's one
//! number (the instant its bucket is full again), changed only by one Lua
//! script that runs atomically on Redis' own clock — GCRA because the
//! local limiter is GCRA (a quota means the same in both modes) and it is
//! one key per caller with an expiry equal to its refill time, so Redis
//! memory is bounded by the keys that spent quota recently.
//!
//! **No request waits on Redis.** Each replica *leases* permits per key:
//! a call takes up to `lease` units at once (at most a burst) and spends
//! them locally with one compare-and-swap; when a key's lease falls to
//! half, a background task leases more, so a hot key's permits arrive
//! before they are needed. When Redis refuses, the replica remembers until
//! when and refuses locally meanwhile (asking again a little before the
//! refusal ends, and leasing the next permits slightly ahead, held until
//! they conform). A cold key — or one whose lease ran dry before its
//! refill came back — is decided on its *local share* of the quota
//! (`1 / replicas`) while its call is out, and what that admits is charged
//! to Redis with the call. Over any window the fleet admits at most the
//! quota plus what the replicas hold leased and unspent, `lease ×
//! replicas`; admissions on a local share are counted late (one round
//! trip), not lost, unless the call carrying them fails.
//!
//! **Redis is a dependency like any other.** Each layer keeps one
//! multiplexed connection (the `redis` crate's tokio `ConnectionManager`,
//! credentials from the URL), at most `max_in_flight` calls out, each
//! bounded by `timeout`; `failures` consecutive failures mark Redis down,
//! and one probe tries it again after a backoff (core's `Backoff`,
//! doubling to `max_backoff`). While it is down each replica enforces its
//! local share (`fallback = "local"`) or refuses what its leases do not
//! cover (`"refuse"`); permits already leased are still spent. A
//! `rediss://` URL speaks TLS (feature `redis-tls`: rustls, the system's
//! roots plus any in [`RedisTlsConfig`], a client certificate if given).
//! The `<name>/redis` telemetry
//! reports every call's latency and outcome (`buttress.call.duration`,
//! `buttress.calls`; a call that leased permits is a refill), the state
//! (`shared`, `local` or `refusing`: `buttress.state`,
//! `buttress.transitions`), and each request decided on the local share
//! while Redis is down as a fallback (`buttress.fallbacks`, cause
//! `circuit_open`: Redis' own breaker is open); the handle's
//! [`distributed`](RateLimitHandle::distributed) counts requests decided
//! on the local share, calls, errors and refills.
//!
//! The key-flood bounds hold as before, per replica: a key without a slot
//! passes `new_keys` before it gets a lease (so a flood of invented keys
//! costs Redis at most `new_keys` calls a second per replica), and leases
//! live in the same bounded keyed map.
//!
//! ```
//! use buttress_limit::rate::{KeySource, QuotaConfig, RateLimitConfig, RedisRateConfig};
//!
//! let config = RateLimitConfig {
//!     key: KeySource::Header("x-tenant".into()),
//!     quota: QuotaConfig::per_second(100),
//!     distributed: Some(RedisRateConfig {
//!         url: "redis://10.0.0.5:6379".into(),
//!         replicas: 10,
//!         ..RedisRateConfig::default()
//!     }),
//!     ..RateLimitConfig::default()
//! };
//! # #[cfg(feature = "redis")]
//! # {
//! // Building connects nothing: the first refill does, in the background.
//! let layer = buttress_limit::rate::RateLimitLayer::from_config(&config).unwrap();
//! assert!(layer.handle().distributed().is_some());
//! # }
//! ```
//!
//! ```
//! use buttress_core::layer::LayerBuilder;
//! use buttress_limit::rate::{KeySource, QuotaConfig, QuotaOverride, RateLimitLayer};
//!
//! let premium = QuotaOverride::new("premium", QuotaConfig::per_second(200)).keys(["acme"]);
//! let layer = RateLimitLayer::builder()
//!     .configure(|c| {
//!         c.key = KeySource::Header("x-tenant".into());
//!         c.quota = QuotaConfig::per_second(10).burst(20);
//!         c.overrides.push(premium);
//!         c.max_keys = 10_000;
//!         // Tenants are few and rarely new: keys not yet tracked share
//!         // 20 a second, whatever a caller invents.
//!         c.new_keys = QuotaConfig::per_second(20);
//!     })
//!     .name("public-api")
//!     .build()
//!     .unwrap();
//! # let _ = layer;
//! ```

mod config;
mod distributed;
mod forwarded;
mod gcra;
mod key;
mod layer;
mod limiter;
mod quota;
mod service;

pub use self::config::{RateLimitConfig, RateLimitLayerBuilder, RateLimitMode};
pub use self::distributed::{DistributedStats, RedisFallback, RedisRateConfig, RedisTlsConfig};
pub use self::forwarded::ForwardedHeader;
pub use self::key::KeySource;
pub use self::layer::{RateLimitHandle, RateLimitLayer};
pub use self::quota::{QuotaConfig, QuotaOverride};
pub use self::service::RateLimit;
