//! The state every clone of a balancer shares: the endpoint table, the
//! discovery stream that changes it, and the fleet's counts.
//!
//! tower's `Balance` owns its endpoints and needs `&mut self` to choose,
//! so sharing one across clones takes a `Buffer` — a task, a queue, and a
//! hop per request. Buttress layers share their state instead, and the
//! endpoint services users bring (hyper-util's `Client`, reqwest's,
//! tonic's `Channel`) are all `Clone`: so the table is an immutable
//! `Arc<[Arc<Endpoint>]>` behind an `RwLock` and an epoch counter. A
//! clone keeps its own copy of the `Arc` and reads the lock only when the
//! epoch moved — a discovery change, rare — so choosing an endpoint is
//! atomic loads on the endpoints' own state, and calling it a clone of
//! its service.
//!
//! Discovery is polled by whichever clone's `poll_ready` finds it woken
//! (a flag set by the stream's own waker) and the lock free; nobody waits
//! for it. A request never waits for discovery either: with no endpoint,
//! it is refused at once.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll, Wake, Waker};

use buttress_core::rng::SharedRng;
use buttress_core::telemetry::Telemetry;
use buttress_core::{BoxError, clock};
use tower::discover::Change;
use tower_layer::Layer;

use crate::endpoint::{Common, Detected, Detectors, Endpoint};
use crate::key::EndpointKey;
use crate::telemetry::Labels;

/// The most endpoints one balancer holds; discovery past it is dropped,
/// with a warning.
pub const MAX_ENDPOINTS: usize = 4_096;

/// Changes taken from discovery in one go, so one clone's `poll_ready`
/// never drains an endless stream.
const MAX_CHANGES_PER_POLL: usize = 1_024;

/// The discovery stream, its endpoints wrapped in the per-endpoint layer.
pub(crate) type Driver<K, S> =
    Box<dyn FnMut(&mut Context<'_>) -> Poll<Option<Result<Change<K, S>, BoxError>>> + Send>;

pub(crate) type Table<K, S, J> = Arc<[Arc<Endpoint<K, Detected<S, J>>>]>;

pub(crate) struct Shared<K, S, J> {
    pub(crate) judge: J,
    pub(crate) common: Arc<Common>,
    pub(crate) rng: SharedRng,
    pub(crate) telemetry: Telemetry,
    table: RwLock<Table<K, S, J>>,
    epoch: AtomicU64,
    driver: Mutex<Option<Driver<K, S>>>,
    woken: Arc<Woken>,
    labels: Labels,
    /// Whether the health-check task was started.
    pub(crate) health_started: AtomicBool,
}

/// Set by the discovery stream's waker: there may be changes to take.
#[derive(Debug)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Release);
    }
}

impl<K, S, J> Shared<K, S, J> {
    /// The table's epoch: it moves with every change.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Acquire)
    }

    /// The table now.
    pub(crate) fn table(&self) -> Table<K, S, J> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<K, S, J> Shared<K, S, J>
where
    K: EndpointKey,
    J: Clone,
{
    pub(crate) fn new(
        judge: J,
        common: Arc<Common>,
        rng: SharedRng,
        telemetry: Telemetry,
        labels: Labels,
        driver: Driver<K, S>,
    ) -> Self {
        Shared {
            judge,
            common,
            rng,
            telemetry,
            table: RwLock::new(Arc::from(Vec::new())),
            epoch: AtomicU64::new(0),
            driver: Mutex::new(Some(driver)),
            woken: Arc::new(Woken(AtomicBool::new(true))),
            labels,
            health_started: AtomicBool::new(false),
        }
    }

    /// Takes what discovery has, if it was woken and no one else is at
    /// it. A load of one flag when there is nothing to do.
    #[inline]
    pub(crate) fn discover(&self) {
        if self.woken.0.load(Acquire) {
            self.drive();
        }
    }

    fn drive(&self) {
        let Ok(mut driver) = self.driver.try_lock() else {
            return;
        };
        self.woken.0.store(false, Release);
        let Some(poll) = driver.as_mut() else {
            return;
        };
        let waker = Waker::from(self.woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut changes = Vec::new();
        let mut ended = false;
        while changes.len() < MAX_CHANGES_PER_POLL {
            match poll(&mut cx) {
                Poll::Ready(Some(Ok(change))) => changes.push(change),
                Poll::Ready(Some(Err(err))) => {
                    tracing::warn!(balancer = %self.telemetry.layer(), error = %err, "endpoint discovery failed");
                }
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if changes.len() >= MAX_CHANGES_PER_POLL {
            // More may be ready: the next call takes them.
            self.woken.0.store(true, Release);
        }
        if ended {
            // The table stays as the stream left it.
            *driver = None;
        }
        drop(driver);
        if !changes.is_empty() {
            self.apply(changes);
        }
    }

    /// Applies a batch of changes: one new table, one epoch.
    fn apply(&self, changes: Vec<Change<K, S>>) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        // Endpoints found while the balancer had none (its first ones, or
        // after all left) take a full share at once: there is no one to
        // protect them from, nor them from anyone.
        let ramp = !table.is_empty();
        let mut next: Vec<_> = table.iter().cloned().collect();
        let now = clock::ticks(clock::now());
        let mut seen = HashSet::new();
        for change in changes {
            match change {
                Change::Insert(key, service) => {
                    if let Some(at) = next.iter().position(|ep| ep.key == key) {
                        next.swap_remove(at).retire();
                    } else if next.len() >= MAX_ENDPOINTS {
                        tracing::warn!(balancer = %self.telemetry.layer(), endpoint = %key, "endpoint table full; endpoint dropped");
                        continue;
                    }
                    match self.endpoint(key.clone(), service, now, ramp) {
                        Ok(endpoint) => next.push(Arc::new(endpoint)),
                        Err(err) => {
                            tracing::error!(balancer = %self.telemetry.layer(), endpoint = %key, error = %err, "endpoint not added")
                        }
                    }
                    seen.insert(key);
                }
                Change::Remove(key) => {
                    // An in-flight call holds its endpoint and its own
                    // clone of the service: it finishes undisturbed.
                    if let Some(at) = next.iter().position(|ep| ep.key == key) {
                        next.swap_remove(at).retire();
                    }
                }
            }
        }
        self.common.fleet.size.store(next.len(), Relaxed);
        *table = Arc::from(next);
        self.epoch.fetch_add(1, AcqRel);
    }

    fn endpoint(
        &self,
        key: K,
        service: S,
        now: u64,
        ramp: bool,
    ) -> Result<Endpoint<K, Detected<S, J>>, buttress_core::config::ConfigError> {
        let ejection = &self.common.policy.config.ejection;
        let detectors = Detectors::new(
            ejection.consecutive(self.rng.next_u64()),
            ejection.rate(self.rng.next_u64()),
            &self.judge,
        )?;
        let service = detectors.consecutive.layer(detectors.rate.layer(service));
        let label = self.labels.claim(&key);
        Ok(Endpoint::new(
            key,
            service,
            detectors.handles(),
            self.common.clone(),
            now,
            ramp,
            label,
        ))
    }
}

impl<K, S, J> Drop for Shared<K, S, J> {
    fn drop(&mut self) {
        // In-flight calls may still hold endpoints: they no longer count
        // toward a fleet that is gone, but their slots are given back.
        let table = self.table.get_mut().unwrap_or_else(PoisonError::into_inner);
        for endpoint in table.iter() {
            endpoint.retire();
        }
    }
}
