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
use super::gcra::{Cell, Decision};
use super::key::Extractor;
use super::quota::Class;

pub(crate) type CostFn = dyn Fn(&TrustRequest<'_>) -> u32 + Send + Sync;

/// A key class: its quota and its telemetry handle.
struct ClassState {
    class: Class,
    telemetry: Telemetry,
}

/// Where the cells live.
enum Cells {
    /// One cell for every request.
    Global(Cell),
    /// A cell per key: the override keys pinned for the layer's life
    /// (never evicted, never in the overflow), the rest in core's bounded
    /// keyed map.
    Keyed {
        pinned: HashMap<Vec<u8>, (usize, Cell)>,
        map: KeyedMap<Vec<u8>, Cell>,
    },
}

/// A rate limit's shared state, built once with the layer.
pub(crate) struct Limiter {
    pub(crate) config: RateLimitConfig,
    /// The layer's own identity; each class reports as `<name>/<class>`.
    pub(crate) id: LayerId,
    extractor: Extractor,
    /// Class 0 is `default`; then the overrides in order.
    classes: Box<[ClassState]>,
    cells: Cells,
    cost: Option<Arc<CostFn>>,
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
    ) -> Self {
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
        let classes = std::iter::once(("default", &config.quota))
            .chain(
                config
                    .overrides
                    .iter()
                    .map(|o| (o.class.as_str(), &o.quota)),
            )
            .map(|(name, quota)| ClassState {
                class: Class::new(name, quota),
                telemetry: register(name),
            })
            .collect();
        let cells = match extractor {
            Extractor::Global => Cells::Global(Cell::new()),
            _ => Cells::Keyed {
                pinned: pinned
                    .into_iter()
                    .map(|(key, class)| (key, (class, Cell::new())))
                    .collect(),
                map: KeyedMap::new(config.max_keys, Cell::new()),
            },
        };
        Limiter {
            config,
            id,
            extractor,
            classes,
            cells,
            cost,
            shadow,
            limited: AtomicU64::new(0),
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
            Cells::Keyed { pinned, map } => {
                let view = TrustRequest::of(request);
                let cost = self.cost.as_ref().map_or(1, |cost| cost(&view));
                let key = self.extractor.key(&view, self.config.ipv6_prefix);
                if !pinned.is_empty()
                    && let Some((class, cell)) = pinned.get(&*key)
                {
                    return self.decide(cell, *class, now, cost);
                }
                let entry = map.get_or_insert_with(&*key, Cell::new);
                self.decide(&entry, 0, now, cost)
            }
        }
    }

    #[inline]
    fn cost_of<B>(&self, request: &http::Request<B>) -> u32 {
        self.cost
            .as_ref()
            .map_or(1, |cost| cost(&TrustRequest::of(request)))
    }

    #[inline]
    fn decide(&self, cell: &Cell, class: usize, now: u64, cost: u32) -> Result<(), Box<Rejected>> {
        let state = &self.classes[class];
        match cell.check(state.class.rate, now, cost) {
            Decision::Admitted => {
                state.telemetry.report(Event::Admitted);
                Ok(())
            }
            Decision::Limited {
                wait,
                remaining,
                reset,
            } => self.limit(state, wait, remaining, reset),
        }
    }

    #[cold]
    fn limit(
        &self,
        state: &ClassState,
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
            Rejected::new(Reason::RateLimited).with_quota(state.class.figures(remaining, reset));
        if let Some(wait) = wait {
            rejected = rejected.with_retry_after(wait);
        }
        Err(Box::new(rejected))
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
