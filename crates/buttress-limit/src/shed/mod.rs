//! Priority load shedding: under extreme load, keep the critical work
//! alive by refusing the least important first.
//!
//! Each request has a priority — one of core's four
//! [`Criticality`](buttress_core::Criticality) levels, from the request's
//! `RequestContext` (filled by the context layer from a header, and only
//! for callers its `TrustPolicy` trusts) or assigned by the server: route
//! templates, methods, a closure; health and readiness routes are always
//! critical-plus. The priority is looked up only while shedding.
//!
//! An [`OverloadSignal`] reads the [`Pressure`] for each request: calls in
//! flight with high and low watermarks ([`InFlightSignal`], the default
//! and the cheapest), the wait before reaching the layer
//! ([`QueueDelaySignal`]), the latency of recent calls
//! ([`LatencySignal`]), or one of your own.
//!
//! When the signal reads overloaded, the shed level rises one class,
//! starting with sheddable work: requests of a shed class are let in only
//! while the signal reads relieved (below the low watermark) and refused
//! otherwise, so they keep using whatever the more important work leaves
//! free. While the signal still reads overloaded the level rises one more
//! class per `escalate_after`; critical work is shed only once both
//! sheddable classes are. The level falls one class at the end of a
//! `cooldown` period in which at most `relax_ratio` (half) of the highest
//! shed class's requests had to be refused — not merely once the signal is
//! low again, which shedding itself causes — so a spike makes the state
//! change once on the way in and once on the way out.
//!
//! A refused request fails with
//! [`Rejected`](buttress_core::Rejected) [`Reason::Shed`](buttress_core::Reason::Shed)
//! and the configured retry hint, never sent; the edge layer turns it into
//! 503 with `Retry-After`.
//!
//! No gentle delay before shedding: a queue in front of an overloaded
//! server holds every delayed request's memory and socket and adds its
//! wait to the latency of the work that is admitted; the simulation in
//! `tests/shed_simulation.rs` meets its targets without one.

mod config;
mod future;
mod layer;
mod level;
mod priority;
mod route;
mod service;
mod shedder;
mod signal;

pub use self::config::{LoadShedLayerBuilder, MethodRule, RouteRule, ShedConfig, ShedSignalConfig};
pub use self::future::{Admitted, ResponseFuture};
pub use self::layer::{LoadShedHandle, LoadShedLayer};
pub use self::priority::PriorityFn;
pub use self::service::LoadShed;
pub use self::signal::{
    FollowLimitSignal, InFlightSignal, LatencySignal, OverloadSignal, Pressure, Probe,
    QueueDelaySignal,
};
