//! The distributed decision: a leased permit, Redis' last answer, or the
//! key's local share — never a wait on Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::Rejected;
use buttress_core::keyed::{KeyedMap, KeyedStats};
use buttress_core::telemetry::Event;

use super::config::RedisFallback;
use super::engine::Engine;
use super::lease::{Lease, SharedLease, Take};
use super::stats::DistributedStats;
use crate::rate::gcra::Decision;
use crate::rate::limiter::{Limiter, Newcomers};

/// A distributed limit's keys: leases instead of local cells, in the same
/// places the local limiter keeps its cells.
pub(crate) struct Distributed {
    engine: Arc<Engine>,
    cells: Leases,
}

enum Leases {
    /// One lease for every request.
    Global(Arc<Lease>),
    /// As the local limiter: override keys pinned, the rest in core's
    /// bounded keyed map, `new_keys` for keys without a slot.
    Keyed {
        pinned: HashMap<Vec<u8>, Arc<Lease>>,
        map: KeyedMap<Vec<u8>, SharedLease>,
        newcomers: Box<Newcomers>,
    },
}

impl Distributed {
    /// One global lease.
    pub(crate) fn global(engine: Arc<Engine>) -> Self {
        let lease = Arc::new(engine.lease(0, "default", b""));
        Distributed {
            engine,
            cells: Leases::Global(lease),
        }
    }

    /// Keyed leases: `pinned` are the override keys with their class and
    /// class name.
    pub(crate) fn keyed(
        engine: Arc<Engine>,
        pinned: Vec<(Vec<u8>, usize, &str)>,
        max_keys: usize,
        newcomers: Box<Newcomers>,
    ) -> Self {
        let pinned = pinned
            .into_iter()
            .map(|(key, class, name)| {
                let lease = Arc::new(engine.lease(class, name, &key));
                (key, lease)
            })
            .collect();
        // The map's overflow lease is never decided on: a key that finds
        // the map full has passed `new_keys`, its whole check.
        let overflow = SharedLease(Arc::new(Lease::new(Box::default(), 0)));
        Distributed {
            engine,
            cells: Leases::Keyed {
                pinned,
                map: KeyedMap::new(max_keys, overflow),
                newcomers,
            },
        }
    }

    pub(crate) fn keyed_stats(&self) -> Option<KeyedStats> {
        match &self.cells {
            Leases::Global(_) => None,
            Leases::Keyed { map, .. } => Some(map.stats()),
        }
    }

    pub(crate) fn newcomers(&self) -> Option<&Newcomers> {
        match &self.cells {
            Leases::Global(_) => None,
            Leases::Keyed { newcomers, .. } => Some(newcomers),
        }
    }

    pub(crate) fn stats(&self) -> DistributedStats {
        self.engine.stats()
    }
}

impl Limiter {
    /// Admits `request` or refuses it, on this replica's view of the
    /// fleet-wide quota.
    #[inline]
    pub(crate) fn check_distributed<B>(
        &self,
        distributed: &Distributed,
        request: &http::Request<B>,
        now: u64,
    ) -> Result<(), Box<Rejected>> {
        let engine = &distributed.engine;
        match &distributed.cells {
            Leases::Global(lease) => {
                let cost = self.cost_of(request);
                self.decide_lease(engine, lease, now, cost)
            }
            Leases::Keyed {
                pinned,
                map,
                newcomers,
            } => {
                let (key, cost) = self.key_and_cost(request);
                if !pinned.is_empty()
                    && let Some(lease) = pinned.get(&*key)
                {
                    return self.decide_lease(engine, lease, now, cost);
                }
                if let Some(entry) = map.get(&*key) {
                    entry.0.local.seen_again(newcomers.keep);
                    return self.decide_lease(engine, &entry.0, now, cost);
                }
                self.decide_new_lease(engine, map, newcomers, &key, now, cost)
            }
        }
    }

    /// A key without a slot: `new_keys` first, exactly as the local
    /// limiter (so a key flood costs Redis no more calls than `new_keys`
    /// admits), then a fresh lease.
    #[inline(never)]
    fn decide_new_lease(
        &self,
        engine: &Arc<Engine>,
        map: &KeyedMap<Vec<u8>, SharedLease>,
        newcomers: &Newcomers,
        key: &[u8],
        now: u64,
        cost: u32,
    ) -> Result<(), Box<Rejected>> {
        self.check_newcomer(newcomers, now, cost)?;
        let entry = map.get_or_insert_with(key, || {
            SharedLease(Arc::new(engine.lease(0, "default", key)))
        });
        if entry.is_overflow() {
            self.classes[0].telemetry.report(Event::Admitted);
            return Ok(());
        }
        self.decide_lease(engine, &entry.0, now, cost)
    }

    /// The hot path: a leased permit, or Redis' last refusal.
    #[inline]
    fn decide_lease(
        &self,
        engine: &Arc<Engine>,
        lease: &Arc<Lease>,
        now: u64,
        cost: u32,
    ) -> Result<(), Box<Rejected>> {
        let state = &self.classes[lease.class];
        let held = if lease.valid(now) {
            match lease.take(cost) {
                Take::Taken(left) => {
                    if engine.low(lease.class, left) && engine.health.is_up() {
                        engine.refill(lease);
                    }
                    state.telemetry.report(Event::Admitted);
                    return Ok(());
                }
                Take::Short(held) => held,
            }
        } else {
            0
        };
        match lease.denied_for(now) {
            Some(wait) => {
                lease.want();
                engine.follow(lease, wait);
                self.limit(state, &state.class, Some(wait), held, lease.reset(now))
            }
            None => self.decide_unleased(engine, lease, now, cost),
        }
    }

    /// No permit and no refusal in force: the key's local share decides,
    /// while a refill goes out (its spending charged with it), or — Redis
    /// down — by the configured fallback.
    #[cold]
    fn decide_unleased(
        &self,
        engine: &Arc<Engine>,
        lease: &Arc<Lease>,
        now: u64,
        cost: u32,
    ) -> Result<(), Box<Rejected>> {
        let state = &self.classes[lease.class];
        let share = engine.rates(lease.class).share;
        if engine.health.is_up() {
            let decision = lease.local.check(share, now, cost);
            // Owed before the refill is sent, so that the refill charges
            // it in its own call: owed after, the refill task could read
            // the debt first and make a second call for it once back.
            // Only when a refill can go out (a runtime to send it from):
            // otherwise nothing would ever charge it.
            if decision == Decision::Admitted && engine.can_refill(lease) {
                lease.owe(cost);
            }
            if engine.refill(lease) {
                engine.count_provisional();
            } else {
                engine.count_fallback();
            }
            return self.conclude(state, decision);
        }
        engine.probe(lease, now);
        engine.count_fallback();
        if engine.fallback == RedisFallback::Refuse {
            let wait = engine.health.retry_in(now).max(Duration::from_millis(1));
            return self.limit(
                state,
                &state.class,
                Some(wait),
                lease.held(),
                lease.reset(now),
            );
        }
        engine.health.report_fallback();
        let decision = lease.local.check(share, now, cost);
        self.conclude(state, decision)
    }
}
