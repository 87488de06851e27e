//! The configurations compared under overload, each in front of the same
//! slow handler.

use std::sync::Arc;
use std::time::Duration;

use buttress::context::server::{ServerContextConfig, TrustConfig};
use buttress::limit::BulkheadConfig;
use buttress::limit::adaptive::AdaptiveLimitConfig;
use buttress::stack::{ServerLayer, ServerStack};
use tower::{Layer, ServiceBuilder};

use crate::load::answer;
use crate::load::server::Server;
use crate::slow_handler::{Capacity, SlotUse, slow_handler};

/// What stands between the clients and the slow handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// The handler alone: every request waits for a slot, however long.
    Unprotected,
    /// tower's `LoadShed` over `ConcurrencyLimit` of the slot count: what
    /// a tower user would reach for, told the capacity.
    Tower,
    /// `ServerStack::new(..).build()` with its defaults, told nothing.
    ButtressDefaults,
    /// The same adaptive limit, callers waiting at most 5 ms for a permit
    /// (CoDel's default target) instead of 100 ms: still told nothing
    /// about the capacity.
    ButtressShortWait,
    /// The server stack with a bulkhead of the slot count in place of
    /// the adaptive limit, callers waiting at most one work time for a
    /// slot: the documented configuration for a known capacity.
    ButtressBulkhead,
}

impl Protection {
    pub(crate) const ALL: [Protection; 5] = [
        Protection::Unprotected,
        Protection::Tower,
        Protection::ButtressDefaults,
        Protection::ButtressShortWait,
        Protection::ButtressBulkhead,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Protection::Unprotected => "none",
            Protection::Tower => "tower",
            Protection::ButtressDefaults => "buttress defaults",
            Protection::ButtressShortWait => "buttress 5 ms wait",
            Protection::ButtressBulkhead => "buttress bulkhead",
        }
    }
}

/// The adaptive limit's longest wait in `buttress 5 ms wait`: CoDel's
/// default target, so a caller never waits longer than the standing-queue
/// rule would allow anyway.
const SHORT_WAIT: Duration = Duration::from_millis(5);

/// A running server and, for the Buttress stacks, the stack's layer (to
/// read its adaptive limit while it runs).
pub(crate) struct Protected {
    pub(crate) server: Server,
    pub(crate) stack: Option<ServerLayer>,
}

/// Starts the slow handler behind `protection` on its own thread. With
/// `trusting`, the Buttress stacks' context trusts the caller, so that
/// its `x-criticality` counts (the stacks' default trusts nobody).
pub(crate) fn start(
    protection: Protection,
    capacity: Capacity,
    slot_use: Arc<SlotUse>,
    trusting: bool,
) -> Protected {
    let handler = slow_handler(capacity, slot_use);
    let stack = |name| {
        let stack = ServerStack::new(name);
        match trusting {
            true => stack.context(ServerContextConfig {
                trust: TrustConfig::Always,
                ..ServerContextConfig::default()
            }),
            false => stack,
        }
    };
    let thread = "overload-server";
    let no_stack = |server: Server| Protected {
        server,
        stack: None,
    };
    match protection {
        Protection::Unprotected => no_stack(Server::start(thread, handler, || ()).0),
        Protection::Tower => {
            let tower = ServiceBuilder::new()
                .map_result(answer::from_tower_error)
                .load_shed()
                .concurrency_limit(capacity.slots)
                .service(handler);
            no_stack(Server::start(thread, tower, || ()).0)
        }
        Protection::ButtressDefaults => {
            let stack = stack("overload").build().expect("the defaults build");
            let (server, ()) = Server::start(thread, stack.layer(handler), || ());
            Protected {
                server,
                stack: Some(stack),
            }
        }
        Protection::ButtressShortWait => {
            let stack = stack("overload")
                .adaptive_limit(AdaptiveLimitConfig {
                    max_wait: SHORT_WAIT,
                    ..AdaptiveLimitConfig::default()
                })
                .build()
                .expect("a valid adaptive limit");
            let (server, ()) = Server::start(thread, stack.layer(handler), || ());
            Protected {
                server,
                stack: Some(stack),
            }
        }
        Protection::ButtressBulkhead => {
            let stack = stack("overload")
                .adaptive_limit(buttress::stack::Toggle::Off)
                .bulkhead(BulkheadConfig {
                    max_concurrent: capacity.slots,
                    queue_capacity: capacity.slots,
                    max_wait: capacity.work,
                    ..BulkheadConfig::default()
                })
                .build()
                .expect("a valid bulkhead");
            let (server, ()) = Server::start(thread, stack.layer(handler), || ());
            Protected {
                server,
                stack: Some(stack),
            }
        }
    }
}
