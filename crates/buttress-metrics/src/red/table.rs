//! Pre-resolved handles per label combination, and the route cap.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use metrics::{Counter, Histogram, Label};

use super::labels::{METHODS, OUTCOMES, RedOutcome, STATUS_CLASSES};
use super::layer::RedSide;
use crate::names::*;

/// The route label for routes past the cap, and for requests with no
/// route at all.
pub(super) const OTHER_ROUTE: &str = "_OTHER";

/// The handles one combination of labels records into.
pub(super) struct Handles {
    pub(super) duration: Histogram,
    pub(super) requests: Counter,
    /// Only for outcomes that are errors: a success never bumps it.
    pub(super) errors: Option<Counter>,
}

impl RedSide {
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            RedSide::Server => (
                HTTP_SERVER_DURATION,
                HTTP_SERVER_REQUESTS,
                HTTP_SERVER_ERRORS,
            ),
            RedSide::Client => (
                HTTP_CLIENT_DURATION,
                HTTP_CLIENT_REQUESTS,
                HTTP_CLIENT_ERRORS,
            ),
        }
    }
}

const PER_ROUTE: usize = METHODS.len() * STATUS_CLASSES.len() * OUTCOMES;

/// One slot per route (up to the cap), each holding a lazily resolved
/// handle per (method, status class, outcome). After a combination's
/// first request, recording it is a lookup by index and atomic bumps.
///
/// Each route's name is allocated once and shared by the map, its slot
/// and every label the recorder keeps for it, so the names take at most
/// the byte budget.
pub(super) struct HandleTable {
    side: RedSide,
    name: String,
    routes: RwLock<Routes>,
    route_names: Vec<OnceLock<Arc<str>>>,
    slots: Vec<OnceLock<Box<[OnceLock<Handles>]>>>,
    byte_budget: usize,
}

#[derive(Default)]
struct Routes {
    slots: HashMap<Arc<str>, usize>,
    /// The bytes of every name in `slots`.
    bytes: usize,
}

impl HandleTable {
    /// A table for at most `route_cap` distinct routes, plus `_OTHER`,
    /// whose names take at most `byte_budget` bytes together.
    pub(super) fn new(side: RedSide, name: String, route_cap: usize, byte_budget: usize) -> Self {
        let slots = route_cap + 1;
        let table = HandleTable {
            side,
            name,
            routes: RwLock::new(Routes::default()),
            route_names: (0..slots).map(|_| OnceLock::new()).collect(),
            slots: (0..slots).map(|_| OnceLock::new()).collect(),
            byte_budget,
        };
        let _ = table.route_names[0].set(OTHER_ROUTE.into());
        table
    }

    /// The slot of `route` if it has one already; never registers it.
    pub(super) fn known_slot(&self, route: &str) -> Option<usize> {
        self.read_routes().slots.get(route).copied()
    }

    /// The slot of `route`, registering it if there is room (a free slot
    /// and bytes left in the budget); `_OTHER`'s slot (0) otherwise.
    /// Reading a known route takes a shared lock.
    pub(super) fn route_slot(&self, route: &str) -> usize {
        if route == OTHER_ROUTE {
            return 0;
        }
        if let Some(slot) = self.known_slot(route) {
            return slot;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = routes.slots.get(route) {
            return *slot;
        }
        let next = routes.slots.len() + 1;
        if next >= self.slots.len() || routes.bytes + route.len() > self.byte_budget {
            return 0;
        }
        let name: Arc<str> = route.into();
        let _ = self.route_names[next].set(name.clone());
        routes.slots.insert(name, next);
        routes.bytes += route.len();
        next
    }

    fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many distinct route labels exist (including `_OTHER`).
    pub(super) fn route_count(&self) -> usize {
        self.read_routes().slots.len() + 1
    }

    /// The bytes the route names take (`_OTHER`, a constant, not counted).
    pub(super) fn route_bytes(&self) -> usize {
        self.read_routes().bytes
    }

    pub(super) fn handles(
        &self,
        route: usize,
        method: usize,
        class: usize,
        outcome: RedOutcome,
    ) -> &Handles {
        let slot =
            self.slots[route].get_or_init(|| (0..PER_ROUTE).map(|_| OnceLock::new()).collect());
        let index = (method * STATUS_CLASSES.len() + class) * OUTCOMES + outcome.index();
        slot[index].get_or_init(|| self.resolve(route, method, class, outcome))
    }

    fn resolve(&self, route: usize, method: usize, class: usize, outcome: RedOutcome) -> Handles {
        let route_name: Arc<str> = self.route_names[route]
            .get()
            .cloned()
            .unwrap_or_else(|| OTHER_ROUTE.into());
        let (outcome_label, reason) = outcome.labels();
        let labels = vec![
            Label::new(LABEL_NAME, self.name.clone()),
            Label::new(LABEL_METHOD, METHODS[method]),
            Label::new(LABEL_ROUTE, route_name),
            Label::new(LABEL_STATUS_CLASS, STATUS_CLASSES[class]),
            Label::new(LABEL_OUTCOME, outcome_label),
            Label::new(LABEL_REASON, reason),
        ];
        let (duration, requests, errors) = self.side.names();
        Handles {
            duration: metrics::histogram!(duration, labels.clone()),
            requests: metrics::counter!(requests, labels.clone()),
            errors: outcome
                .is_error()
                .then(|| metrics::counter!(errors, labels)),
        }
    }
}
