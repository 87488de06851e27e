//! What crosses hops with a request, and who may set it.
//!
//! [`RequestContext`] carries the start instant, correlation ID, trace
//! context, deadline, criticality and fault directive of the request being
//! served. While the server layer calls the service inside it and while
//! the request future runs, it is the thread's current context
//! ([`Scoped`]), so inner layers, the handler and client layers pick it
//! up without anyone passing it by hand (an axum handler takes it as an
//! argument, feature `axum`). [`TrustPolicy`] decides whether a
//! caller may set what changes behaviour. The layers that fill the context
//! from inbound headers and write it onto outbound calls live in
//! `buttress-context`.

mod correlation;
mod criticality;
mod current;
#[cfg(feature = "axum")]
mod extract;
mod fault;
mod peer;
mod request;
#[allow(unsafe_code)]
mod scope;
mod trace;
mod trust;

pub use self::correlation::CorrelationId;
pub use self::criticality::Criticality;
pub use self::current::spawn_with_context;
#[cfg(feature = "axum")]
pub use self::extract::NoRequestContext;
pub use self::fault::{FaultAbort, FaultDirective};
pub use self::peer::{PeerAddr, WithPeer};
pub use self::request::RequestContext;
pub use self::scope::Scoped;
pub use self::trace::TraceContext;
pub use self::trust::{InvalidNetwork, IpNet, TrustPolicy, TrustRequest};
