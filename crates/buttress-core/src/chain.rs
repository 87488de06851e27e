//! The facts of one call chain, noted once by its outermost layer.
//!
//! Between the outermost layer's `call` and the innermost's only the
//! layers' own synchronous bookkeeping runs, so what one layer learned
//! about the request there holds for every layer inside it: its start
//! (reading the clock costs ~25 ns on a virtual machine, and every layer
//! wants "now" — the timeout for its end, the limiters for round-trip
//! times, the metrics for latency) and its [`Protocol`] (gRPC or HTTP, and
//! the body format its `Accept` asks for — the edge answers in it, the
//! metrics label by it). The outermost layer [`enter`]s the chain with
//! what it knows; each layer inside reads it with one thread-local lookup
//! ([`start`], [`protocol`], and [`clock::now`](crate::clock::now)) and
//! works it out itself only when no layer outside did.
//!
//! Outside a chain (in a future's `poll`, after a wait in a queue, in a
//! retried attempt) there is nothing to read, so a layer never sees a fact
//! of another request, or an instant older than the chain it is part of.
//!
//! ```
//! use buttress_core::answer::{BodyFormat, Protocol};
//! use buttress_core::{chain, clock};
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let start = Instant::now();
//! {
//!     let _chain = chain::enter(start).with_protocol(Protocol::Grpc);
//!     assert_eq!(clock::now(), start);
//!     assert_eq!(chain::protocol(), Some(Protocol::Grpc));
//! }
//! assert_eq!(chain::start(), None);
//! assert_eq!(chain::protocol(), None);
//! # }
//! ```

use std::cell::Cell;

use tokio::time::Instant;

use crate::answer::Protocol;

/// What the layers of one call chain share.
#[derive(Clone, Copy)]
struct Facts {
    start: Instant,
    protocol: Option<Protocol>,
}

thread_local! {
    /// The facts of the call chain running on this thread, if any.
    static CHAIN: Cell<Option<Facts>> = const { Cell::new(None) };
}

/// The start of the call chain this runs in, if it runs in one.
#[inline]
pub fn start() -> Option<Instant> {
    CHAIN.with(Cell::get).map(|facts| facts.start)
}

/// The protocol of the request whose call chain this runs in, if a layer
/// outside noted it.
#[inline]
pub fn protocol() -> Option<Protocol> {
    CHAIN.with(Cell::get).and_then(|facts| facts.protocol)
}

/// Starts a call chain at `start` (what [`clock::now`](crate::clock::now)
/// returns inside it) until the returned guard drops, which puts back the
/// enclosing chain (also when unwinding). A chain entered inside another
/// replaces all of its facts: a client call made while serving a request
/// is a request of its own. Hold the guard for the body of a layer's
/// `call` (a guard rather than a closure, which would move the returned
/// future once more), never across an `.await`.
///
/// ```
/// use buttress_core::{chain, clock};
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let start = Instant::now();
/// {
///     let _chain = chain::enter(start);
///     assert_eq!(clock::now(), start);
/// }
/// assert_eq!(chain::start(), None);
/// # }
/// ```
#[inline]
#[must_use = "the facts apply only while the guard lives"]
pub fn enter(start: Instant) -> CallChain {
    let facts = Facts {
        start,
        protocol: None,
    };
    CallChain {
        previous: CHAIN.with(|cell| cell.replace(Some(facts))),
        _not_send: std::marker::PhantomData,
    }
}

/// The guard of [`enter`]: puts the enclosing chain back when dropped.
/// Not `Send`: it belongs to the thread whose chain it marks.
#[derive(Debug)]
pub struct CallChain {
    previous: Option<Facts>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl CallChain {
    /// Notes the request's protocol for the layers inside the chain.
    #[inline]
    pub fn with_protocol(self, protocol: Protocol) -> Self {
        CHAIN.with(|cell| {
            if let Some(mut facts) = cell.get() {
                facts.protocol = Some(protocol);
                cell.set(Some(facts));
            }
        });
        self
    }
}

impl Drop for CallChain {
    #[inline]
    fn drop(&mut self) {
        CHAIN.with(|cell| cell.set(self.previous));
    }
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("start", &self.start)
            .field("protocol", &self.protocol)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::BodyFormat;
    use crate::clock::now;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn chains_nest_and_unwind() {
        let outer = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let inner = Instant::now();
        assert_eq!(start(), None);
        {
            let _outer = enter(outer).with_protocol(Protocol::Grpc);
            assert_eq!(now(), outer);
            assert_eq!(protocol(), Some(Protocol::Grpc));
            {
                // A chain inside another shares none of its facts.
                let _inner = enter(inner);
                assert_eq!(now(), inner);
                assert_eq!(protocol(), None);
            }
            assert_eq!(now(), outer);
            assert_eq!(protocol(), Some(Protocol::Grpc));
            let panicked = std::panic::catch_unwind(|| {
                let _inner = enter(inner).with_protocol(Protocol::Http(BodyFormat::Json));
                panic!("layer bug")
            });
            assert!(panicked.is_err());
            assert_eq!(now(), outer);
            assert_eq!(protocol(), Some(Protocol::Grpc));
        }
        assert_eq!(start(), None);
        assert_eq!(protocol(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(now() > inner);
    }
}
