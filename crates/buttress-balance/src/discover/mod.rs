//! Where endpoints come from: tower [`Discover`](tower::discover::Discover)
//! streams of [`Change`]s.
//!
//! - [`static_list`]: a fixed set, given in code.
//! - The config's `endpoints`, resolved once or re-resolved through DNS
//!   every `discovery_interval` ([`ConfigEndpoints`], what
//!   [`BalanceLayer`](crate::BalanceLayer) uses as a `tower::Layer`).
//! - [`channel`]: a set the application changes itself (a service
//!   registry's watch, a Kubernetes `EndpointSlice` informer).
//!
//! Any other `Discover` works too: [`BalanceLayer::discover`](crate::BalanceLayer::discover).

mod channel;
mod dns;
mod list;

pub use self::channel::{Closed, EndpointReceiver, EndpointSender, channel};
pub use self::dns::ConfigEndpoints;
pub use self::list::{StaticList, static_list};
pub use tower::discover::Change;
