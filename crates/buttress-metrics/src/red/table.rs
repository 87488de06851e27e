//! Pre-resolved handles per label combination.
//!
//! A request's labels come from a target (its route, and on a client the
//! server it calls), its shape (gRPC or HTTP, the method, the scheme),
//! the status it was answered with and its outcome. Each level is an
//! array of lazily filled slots: after a combination's first request,
//! recording it is a few atomic loads by index and the sample itself —
//! no lock, no allocation. Memory grows with the combinations that occur,
//! each bounded: routes and servers by their caps, methods to eleven
//! labels, statuses to 1xx–5xx or gRPC's seventeen codes.

use std::sync::{Arc, OnceLock};

use metrics::{Gauge, Histogram, Label};

use super::intern::{Interner, OTHER, split_authority};
use super::labels::{OUTCOMES, RedOutcome, Shape, Status, error_type};
use super::layer::RedSide;
use crate::names::*;

type Outcomes = [OnceLock<Histogram>; OUTCOMES];
/// Statuses of one group (see [`Status::index`]), then outcomes.
type Group = Box<[OnceLock<Box<Outcomes>>]>;

/// The handles of one shape of request to one target.
struct ShapeHandles {
    groups: [OnceLock<Group>; 6],
}

/// The handles of one target: one route (and server), every shape.
struct Target {
    shapes: [OnceLock<Box<ShapeHandles>>; Shape::COUNT],
}

/// A target per [`ServerIndex`], for one route.
type ByServer = Box<[OnceLock<Box<Target>>]>;
/// An in-flight gauge per shape, for one [`ServerIndex`].
type ActiveGauges = Box<[OnceLock<Gauge>; Shape::COUNT]>;

fn lazies<T, const N: usize>() -> [OnceLock<T>; N] {
    std::array::from_fn(|_| OnceLock::new())
}

/// Where a client request goes, as an index: 0 when the request names no
/// server, 1 for a server past the cap (`_OTHER`), then one per server.
/// Always 0 on a server.
pub(super) type ServerIndex = usize;

/// Every handle one RED layer records into.
pub(super) struct HandleTable {
    side: RedSide,
    name: Arc<str>,
    pub(super) routes: Interner,
    /// Server addresses (a client's), with at most `max_len` bytes each.
    pub(super) servers: Interner,
    /// By route, then by [`ServerIndex`].
    targets: Box<[OnceLock<ByServer>]>,
    /// In-flight gauges, by [`ServerIndex`] then shape: their labels do
    /// not include the route, and the gauge a request raised must be the
    /// one it lowers, whatever route it earns meanwhile.
    active: Box<[OnceLock<ActiveGauges>]>,
}

impl HandleTable {
    /// A table for at most `route_cap` routes and (on a client)
    /// `server_cap` servers, the routes taking at most `route_bytes`
    /// together, the servers as many.
    pub(super) fn new(
        side: RedSide,
        name: Arc<str>,
        route_cap: usize,
        server_cap: usize,
        route_bytes: usize,
    ) -> Self {
        let servers = match side {
            RedSide::Server => 0,
            RedSide::Client => server_cap,
        };
        let server_indexes = match side {
            RedSide::Server => 1,
            RedSide::Client => servers + 2,
        };
        HandleTable {
            side,
            name,
            routes: Interner::new(route_cap, route_bytes),
            servers: Interner::new(servers, route_bytes),
            targets: (0..=route_cap).map(|_| OnceLock::new()).collect(),
            active: (0..server_indexes).map(|_| OnceLock::new()).collect(),
        }
    }

    fn client(&self) -> bool {
        self.side == RedSide::Client
    }

    /// The [`ServerIndex`] of a request naming `authority` (host and
    /// optional port, no user info), if it names one.
    pub(super) fn server_index(&self, authority: Option<&str>, max_len: usize) -> ServerIndex {
        match authority {
            _ if !self.client() => 0,
            None | Some("") => 0,
            Some(authority) if authority.len() > max_len => 1,
            Some(authority) => self.servers.slot(authority) + 1,
        }
    }

    /// The name of an interned server, `None` for no server, one too long
    /// to label, or `_OTHER`.
    pub(super) fn server_name(&self, server: ServerIndex) -> Option<Arc<str>> {
        (server >= 2).then(|| self.servers.name(server - 1))
    }

    /// The in-flight gauge of `server` and `shape`.
    pub(super) fn active(&self, server: ServerIndex, shape: Shape) -> &Gauge {
        let gauges = self.active[server].get_or_init(|| Box::new(lazies()));
        gauges[shape.index()].get_or_init(|| {
            let mut labels = vec![Label::new(LABEL_NAME, self.name.clone())];
            let name = match (self.side, shape.is_grpc()) {
                (RedSide::Server, false) => {
                    labels.push(Label::new(LABEL_METHOD, shape.method()));
                    labels.push(Label::new(LABEL_SCHEME, shape.scheme()));
                    HTTP_SERVER_ACTIVE
                }
                (RedSide::Client, false) => {
                    labels.push(Label::new(LABEL_METHOD, shape.method()));
                    HTTP_CLIENT_ACTIVE
                }
                (RedSide::Server, true) => {
                    labels.push(Label::new(LABEL_RPC_SYSTEM, "grpc"));
                    RPC_SERVER_ACTIVE
                }
                (RedSide::Client, true) => {
                    labels.push(Label::new(LABEL_RPC_SYSTEM, "grpc"));
                    RPC_CLIENT_ACTIVE
                }
            };
            self.server_labels(server, shape, &mut labels);
            metrics::gauge!(name, labels)
        })
    }

    /// The duration histogram of one combination of labels.
    pub(super) fn duration(
        &self,
        route: usize,
        server: ServerIndex,
        shape: Shape,
        status: Status,
        outcome: RedOutcome,
    ) -> &Histogram {
        let by_server = self.targets[route]
            .get_or_init(|| (0..self.active.len()).map(|_| OnceLock::new()).collect());
        let target = by_server[server].get_or_init(|| Box::new(Target { shapes: lazies() }));
        let handles = target.shapes[shape.index()]
            .get_or_init(|| Box::new(ShapeHandles { groups: lazies() }));
        let (group, place) = status.index();
        let statuses = handles.groups[group].get_or_init(|| {
            (0..Status::group_len(shape.is_grpc(), group))
                .map(|_| OnceLock::new())
                .collect()
        });
        let outcomes = statuses[place].get_or_init(|| Box::new(lazies()));
        outcomes[outcome.index()]
            .get_or_init(|| self.resolve(route, server, shape, status, outcome))
    }

    fn resolve(
        &self,
        route: usize,
        server: ServerIndex,
        shape: Shape,
        status: Status,
        outcome: RedOutcome,
    ) -> Histogram {
        let client = self.client();
        let mut labels = Vec::with_capacity(9);
        labels.push(Label::new(LABEL_NAME, self.name.clone()));
        let route_name = self.routes.name(route);
        if shape.is_grpc() {
            labels.push(Label::new(LABEL_RPC_SYSTEM, "grpc"));
            labels.push(Label::new(LABEL_RPC_METHOD, route_name));
        } else {
            labels.push(Label::new(LABEL_METHOD, shape.method()));
            if !client {
                labels.push(Label::new(LABEL_SCHEME, shape.scheme()));
                labels.push(Label::new(LABEL_ROUTE, route_name));
            } else if route != 0 {
                // A client's path template, only when one is known.
                labels.push(Label::new(LABEL_URL_TEMPLATE, route_name));
            }
        }
        self.server_labels(server, shape, &mut labels);
        match status {
            Status::Http(code) => labels.push(Label::new(LABEL_STATUS, code.to_string())),
            Status::Grpc(code) => labels.push(Label::new(LABEL_RPC_STATUS, code.name())),
            Status::None => {}
        }
        if let Some(error) = error_type(client, status, outcome) {
            labels.push(Label::new(LABEL_ERROR_TYPE, error));
        }
        labels.push(Label::new(LABEL_OUTCOME, outcome.label()));
        let name = match (self.side, shape.is_grpc()) {
            (RedSide::Server, false) => HTTP_SERVER_DURATION,
            (RedSide::Client, false) => HTTP_CLIENT_DURATION,
            (RedSide::Server, true) => RPC_SERVER_DURATION,
            (RedSide::Client, true) => RPC_CLIENT_DURATION,
        };
        metrics::histogram!(name, labels)
    }

    /// `server.address` and `server.port`, on a client that knows them.
    fn server_labels(&self, server: ServerIndex, shape: Shape, labels: &mut Vec<Label>) {
        match server {
            0 => {}
            1 => labels.push(Label::new(LABEL_SERVER_ADDRESS, OTHER)),
            slot => {
                let authority = self.servers.name(slot - 1);
                let (host, port) = split_authority(&authority, shape.https());
                labels.push(Label::new(LABEL_SERVER_ADDRESS, host.to_owned()));
                labels.push(Label::new(LABEL_SERVER_PORT, port.to_string()));
            }
        }
    }
}
