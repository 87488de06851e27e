//! Pre-resolved handles per label combination, and the route cap.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

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
pub(super) struct HandleTable {
    side: RedSide,
    name: String,
    routes: RwLock<HashMap<Box<str>, usize>>,
    route_names: Vec<OnceLock<Box<str>>>,
    slots: Vec<OnceLock<Box<[OnceLock<Handles>]>>>,
}

impl HandleTable {
    /// A table for at most `route_cap` distinct routes, plus `_OTHER`.
    pub(super) fn new(side: RedSide, name: String, route_cap: usize) -> Self {
        let slots = route_cap + 1;
        let table = HandleTable {
            side,
            name,
            routes: RwLock::new(HashMap::new()),
            route_names: (0..slots).map(|_| OnceLock::new()).collect(),
            slots: (0..slots).map(|_| OnceLock::new()).collect(),
        };
        let _ = table.route_names[0].set(OTHER_ROUTE.into());
        table
    }

    /// The slot of `route`, registering it if there is room; `_OTHER`'s
    /// slot (0) otherwise. Reading a known route takes a shared lock.
    pub(super) fn route_slot(&self, route: Option<&str>) -> usize {
        let Some(route) = route else { return 0 };
        if let Some(slot) = self.read_routes().get(route) {
            return *slot;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = routes.get(route) {
            return *slot;
        }
        let next = routes.len() + 1;
        if next >= self.slots.len() {
            return 0;
        }
        let _ = self.route_names[next].set(route.into());
        routes.insert(route.into(), next);
        next
    }

    fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, usize>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many distinct route labels exist (including `_OTHER`).
    pub(super) fn route_count(&self) -> usize {
        self.read_routes().len() + 1
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
        let route_name: &str = self.route_names[route]
            .get()
            .map_or(OTHER_ROUTE, Borrow::borrow);
        let (outcome_label, reason) = outcome.labels();
        let labels = vec![
            Label::new(LABEL_NAME, self.name.clone()),
            Label::new(LABEL_METHOD, METHODS[method]),
            Label::new(LABEL_ROUTE, route_name.to_owned()),
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
