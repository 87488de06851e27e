//! The state every clone of a rate-limit layer shares, and the decision.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use buttress_core::clock::{self, ticks};
use buttress_core::context::TrustRequest;
use buttress_core::keyed::{KeyedMap, KeyedStats};
use buttress_core::layer::BuildEnv;
use buttress_core::telemetry::{Event, LayerId, LayerKind, Telemetry};
use buttress_core::{Reason, Rejected, RequestContext};

use super::config::{RateLimitConfig, RateLimitMode};
use super::distributed::DistributedStats;
#[cfg(not(feature = "redis"))]
use super::distributed::needs_redis_feature;
#[cfg(feature = "redis")]
use super::distributed::{Distributed, Engine};
use super::gcra::{Cell, Decision};
use super::key::{Extractor, Key};
use super::quota::Class;
use super::quota::QuotaConfig;
use crate::ConfigError;

pub(crate) type CostFn = dyn Fn(&TrustRequest<'_>) -> u32 + Send + Sync;

/// The policy name a `new_keys` refusal advertises in its `RateLimit`
/// fields. Telemetry counts it under the `default` class, whose keys it
/// serves.
const NEW_KEYS_POLICY: &str = "new_keys";

/// A key class: its quota and its telemetry handle.
pub(crate) struct ClassState {
    pub(crate) class: Class,
    pub(crate) telemetry: Telemetry,
}

/// Where the cells live.
enum Cells {
    /// One cell for every request.
    Global(Cell),
    /// A cell per key: the override keys pinned for the layer's life
    /// (never evicted, never charged to `new_keys`), the rest in core's
    /// bounded keyed map, and one cell shared by every request whose key
    /// has no slot in it.
    Keyed {
        pinned: HashMap<Vec<u8>, (usize, Cell)>,
        map: KeyedMap<Vec<u8>, Cell>,
        newcomers: Box<Newcomers>,
    },
    /// Fleet-wide: leases of the quota in Redis.
    #[cfg(feature = "redis")]
    Distributed(Box<Distributed>),
}

/// The `new_keys` quota: one cell for every request whose key has no slot
/// of its own, the policy its refusals advertise, and how long a
/// returning key keeps its slot.
pub(crate) struct Newcomers {
    cell: Cell,
    class: Class,
    /// `keep_idle` in nanoseconds.
    pub(crate) keep: u64,
    limited: AtomicU64,
}

impl Newcomers {
    fn new(config: &RateLimitConfig) -> Box<Self> {
        Box::new(Newcomers {
            cell: Cell::new(),
            class: Class::new(NEW_KEYS_POLICY, &config.new_keys),
            keep: clock::nanos(config.keep_idle),
            limited: AtomicU64::new(0),
        })
    }
}

/// A rate limit's shared state, built once with the layer.
pub(crate) struct Limiter {
    /// The settings it was built with: what may not change live.
    pub(crate) config: RateLimitConfig,
    /// The settings it runs with now (quotas change live).
    pub(crate) current: std::sync::Mutex<RateLimitConfig>,
    /// The layer's own identity; each class reports as `<name>/<class>`.
    pub(crate) id: LayerId,
    pub(crate) extractor: Extractor,
    /// Class 0 is `default`; then the overrides in order.
    pub(crate) classes: Box<[ClassState]>,
    cells: Cells,
    pub(crate) cost: Option<Arc<CostFn>>,
    shadow: bool,
    limited: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(
        config: RateLimitConfig,
        env: &BuildEnv,
        extractor: Extractor,
        pinned: Vec<(Vec<u8>, usize)>,
        cost: Option<Arc<CostFn>>,
    ) -> Result<Self, ConfigError> {
        let shadow = config.mode == RateLimitMode::Shadow;
        let id = env.id_for(LayerKind::RateLimit, config.name.as_deref());
        // Telemetry per class, never per raw key: a bounded label set.
        let register = |class: &str| {
            let name = if shadow {
                format!("{}/{class}/shadow", id.name())
            } else {
                format!("{}/{class}", id.name())
            };
            env.telemetry(LayerKind::RateLimit, Some(&name))
        };
        let quotas: Vec<(&str, &QuotaConfig)> = std::iter::once(("default", &config.quota))
            .chain(
                config
                    .overrides
                    .iter()
                    .map(|o| (o.class.as_str(), &o.quota)),
            )
            .collect();
        let classes = quotas
            .iter()
            .map(|(name, quota)| ClassState {
                class: Class::new(name, quota),
                telemetry: register(name),
            })
            .collect();
        let cells = match &config.distributed {
            #[cfg(feature = "redis")]
            Some(redis) => {
                let engine = Engine::new(
                    redis,
                    id.name(),
                    &quotas.iter().map(|(_, quota)| *quota).collect::<Vec<_>>(),
                    env,
                )
                .map_err(|e| e.in_section("distributed"))?;
                Cells::Distributed(Box::new(match extractor {
                    Extractor::Global => Distributed::global(engine),
                    _ => Distributed::keyed(
                        engine,
                        pinned
                            .iter()
                            .map(|(key, class)| (key.clone(), *class, quotas[*class].0))
                            .collect(),
                        config.max_keys,
                        Newcomers::new(&config),
                    ),
                }))
            }
            #[cfg(not(feature = "redis"))]
            Some(_) => return Err(needs_redis_feature()),
            None => Self::local_cells(&config, &extractor, pinned),
        };
        Ok(Limiter {
            current: std::sync::Mutex::new(config.clone()),
            config,
            id,
            extractor,
            classes,
            cells,
            cost,
            shadow,
            limited: AtomicU64::new(0),
        })
    }

    /// Cells on this replica alone.
    fn local_cells(
        config: &RateLimitConfig,
        extractor: &Extractor,
        pinned: Vec<(Vec<u8>, usize)>,
    ) -> Cells {
        match extractor {
            Extractor::Global => Cells::Global(Cell::new()),
            _ => Cells::Keyed {
                pinned: pinned
                    .into_iter()
                    .map(|(key, class)| (key, (class, Cell::new())))
                    .collect(),
                // The map's own overflow cell is never decided on: a key
                // that finds the map full has already passed `new_keys`,
                // which is all it is checked against (see `decide_new`).
                map: KeyedMap::new(config.max_keys, Cell::new()),
                newcomers: Newcomers::new(config),
            },
        }
    }

    /// Admits `request` or refuses it with its quota figures. Allocates
    /// nothing for a tracked key; a refusal is the one box of the
    /// rejection path.
    #[inline]
    pub(crate) fn check<B>(&self, request: &http::Request<B>) -> Result<(), Box<Rejected>> {
        // The request's start, read once by the outermost Buttress layer,
        // serves as now; without a context, the call chain's instant.
        let now = RequestContext::with_request(request, |ctx| {
            ctx.map_or_else(clock::now, RequestContext::start)
        });
        let now = ticks(now);
        match &self.cells {
            Cells::Global(cell) => {
                let cost = self.cost_of(request);
                self.decide(cell, 0, now, cost)
            }
            Cells::Keyed {
                pinned,
                map,
                newcomers,
            } => {
                let (key, cost) = self.key_and_cost(request);
                if !pinned.is_empty()
                    && let Some((class, cell)) = pinned.get(&*key)
                {
                    return self.decide(cell, *class, now, cost);
                }
                if let Some(cell) = map.get(&*key) {
                    cell.seen_again(newcomers.keep);
                    return self.decide(&cell, 0, now, cost);
                }
                self.decide_new(map, newcomers, &key, now, cost)
            }
            #[cfg(feature = "redis")]
            Cells::Distributed(distributed) => self.check_distributed(distributed, request, now),
        }
    }

    /// Charges a request whose key has no slot to `new_keys`; refused
    /// there, it takes no slot.
    #[inline]
    pub(crate) fn check_newcomer(
        &self,
        newcomers: &Newcomers,
        now: u64,
        cost: u32,
    ) -> Result<(), Box<Rejected>> {
        if let Decision::Limited {
            wait,
            remaining,
            reset,
        } = newcomers.cell.check(newcomers.class.rate(), now, cost)
        {
            newcomers.limited.fetch_add(1, Ordering::Relaxed);
            return self.limit(&self.classes[0], &newcomers.class, wait, remaining, reset);
        }
        Ok(())
    }

    /// Decides a request whose key has no slot: against `new_keys` first,
    /// then — admitted, and given a slot if the map has room — against the
    /// key's own fresh quota.
    ///
    /// Charging the shared quota first is what bounds a key-rotating
    /// caller: each invented key would otherwise bring a whole burst of
    /// its own. And since only keys without a slot are charged, the
    /// caller draining it never touches the quota of a key that had a slot
    /// before its flood.
    #[inline(never)]
    fn decide_new(
        &self,
        map: &KeyedMap<Vec<u8>, Cell>,
        newcomers: &Newcomers,
        key: &[u8],
        now: u64,
        cost: u32,
    ) -> Result<(), Box<Rejected>> {
        let state = &self.classes[0];
        // Refused without a slot: a refused caller takes no room.
        self.check_newcomer(newcomers, now, cost)?;
        let entry = map.get_or_insert_with(key, Cell::new);
        if entry.is_overflow() {
            // Every slot holds a key worth keeping (spent quota, or a
            // returning key within `keep_idle`): this key stays without
            // one, and `new_keys` was its whole check.
            state.telemetry.report(Event::Admitted);
            return Ok(());
        }
        self.decide(&entry, 0, now, cost)
    }

    /// The request's key and cost, from one view of it.
    #[inline]
    pub(crate) fn key_and_cost<'a, B>(&self, request: &'a http::Request<B>) -> (Key<'a>, u32) {
        let view = TrustRequest::of(request);
        let cost = self.cost.as_ref().map_or(1, |cost| cost(&view));
        (self.extractor.key(&view, self.config.ipv6_prefix), cost)
    }

    #[inline]
    pub(crate) fn cost_of<B>(&self, request: &http::Request<B>) -> u32 {
        self.cost
            .as_ref()
            .map_or(1, |cost| cost(&TrustRequest::of(request)))
    }

    #[inline]
    fn decide(&self, cell: &Cell, class: usize, now: u64, cost: u32) -> Result<(), Box<Rejected>> {
        let state = &self.classes[class];
        self.conclude(state, cell.check(state.class.rate(), now, cost))
    }

    /// Reports a decision against `state`'s own quota: admitted, or
    /// refused (counted in shadow mode).
    #[inline]
    pub(crate) fn conclude(
        &self,
        state: &ClassState,
        decision: Decision,
    ) -> Result<(), Box<Rejected>> {
        match decision {
            Decision::Admitted => {
                state.telemetry.report(Event::Admitted);
                Ok(())
            }
            Decision::Limited {
                wait,
                remaining,
                reset,
            } => self.limit(state, &state.class, wait, remaining, reset),
        }
    }

    /// Refuses (or in shadow mode counts) a request of `state`'s class
    /// over `policy`: the class's own quota, or `new_keys`.
    #[cold]
    pub(crate) fn limit(
        &self,
        state: &ClassState,
        policy: &Class,
        wait: Option<std::time::Duration>,
        remaining: u64,
        reset: std::time::Duration,
    ) -> Result<(), Box<Rejected>> {
        self.limited.fetch_add(1, Ordering::Relaxed);
        state.telemetry.report(Event::Rejected(Reason::RateLimited));
        if self.shadow {
            return Ok(());
        }
        let mut rejected =
            Rejected::new(Reason::RateLimited).with_quota(policy.figures(remaining, reset));
        if let Some(wait) = wait {
            rejected = rejected.with_retry_after(wait);
        }
        Err(Box::new(rejected))
    }

    /// Takes `config`'s quotas from the next request on; the caller has
    /// checked that nothing else changed. Every key keeps its cell: a
    /// caller's spent quota stays spent, read against the new rate.
    pub(crate) fn reconfigure(&self, config: &RateLimitConfig) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.classes[0].class.set(&config.quota);
        for (state, over) in self.classes[1..].iter().zip(&config.overrides) {
            state.class.set(&over.quota);
        }
        if let Cells::Keyed { newcomers, .. } = &self.cells {
            newcomers.class.set(&config.new_keys);
        }
        *current = config.clone();
    }

    /// Requests refused so far (in shadow mode, that would have been).
    pub(crate) fn limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }

    /// Keys tracked in the keyed map now (0 for a global limit).
    pub(crate) fn keyed_stats(&self) -> Option<KeyedStats> {
        match &self.cells {
            Cells::Global(_) => None,
            Cells::Keyed { map, .. } => Some(map.stats()),
            #[cfg(feature = "redis")]
            Cells::Distributed(distributed) => distributed.keyed_stats(),
        }
    }

    /// The distributed mode's counters (`None` for a local limit).
    pub(crate) fn distributed(&self) -> Option<DistributedStats> {
        match &self.cells {
            #[cfg(feature = "redis")]
            Cells::Distributed(distributed) => Some(distributed.stats()),
            _ => None,
        }
    }

    /// Requests refused (in shadow mode, that would have been) by the
    /// `new_keys` quota (0 for a global limit).
    pub(crate) fn new_keys_limited(&self) -> u64 {
        match &self.cells {
            Cells::Global(_) => 0,
            Cells::Keyed { newcomers, .. } => newcomers.limited.load(Ordering::Relaxed),
            #[cfg(feature = "redis")]
            Cells::Distributed(distributed) => distributed
                .newcomers()
                .map_or(0, |newcomers| newcomers.limited.load(Ordering::Relaxed)),
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("id", &self.id)
            .field("config", &self.config)
            .field("extractor", &self.extractor)
            .field("keys", &self.keyed_stats())
            .field("limited", &self.limited())
            .finish()
    }
}
