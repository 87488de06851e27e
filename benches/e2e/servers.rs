//! The three servers compared: the bare handler, the Buttress server
//! stack over it, and tower's lighter equivalent over it.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use buttress::stack::ServerStack;
use http::{Request, Response};
use hyper::body::Incoming;
use tower::{Layer, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::load::answer::{self, Body};
use crate::load::server::Server;
use crate::thread_cpu::ThreadCpu;

/// Which server a round measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The handler alone.
    Bare,
    /// `ServerStack::new("e2e").build()` over it: context (fresh IDs),
    /// RED metrics, edge, adaptive limit, 10 s timeout.
    Stack,
    /// tower-http's `SetRequestId` + `PropagateRequestId`, then tower's
    /// `LoadShed`, `ConcurrencyLimit` (1,000) and `Timeout` (10 s), errors
    /// answered by hand: the same jobs, fewer of them (no metrics, no
    /// trace context, an ID kept from the caller rather than generated).
    Tower,
}

impl Kind {
    /// In the order each round runs them.
    pub(crate) const ALL: [Kind; 3] = [Kind::Bare, Kind::Stack, Kind::Tower];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::Stack => "stack",
            Kind::Tower => "tower",
        }
    }
}

/// The handler: 200 "ok" at once, without looking at the request.
fn handler(_: Request<Incoming>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(answer::ok()))
}

/// Starts the `kind` server on its own thread; returns it with a handle
/// on that thread's CPU time.
pub(crate) fn start(kind: Kind) -> (Server, ThreadCpu) {
    let bare = tower::service_fn(handler);
    let thread = format!("server-{}", kind.name());
    match kind {
        Kind::Bare => Server::start(&thread, bare, ThreadCpu::current),
        Kind::Stack => {
            let stack = ServerStack::new("e2e").build().expect("the defaults build");
            Server::start(&thread, stack.layer(bare), ThreadCpu::current)
        }
        Kind::Tower => {
            let tower = ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .map_result(answer::from_tower_error)
                .load_shed()
                .concurrency_limit(1_000)
                .timeout(Duration::from_secs(10))
                .service(bare);
            Server::start(&thread, tower, ThreadCpu::current)
        }
    }
}
