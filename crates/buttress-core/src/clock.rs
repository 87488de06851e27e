//! One clock reading per call chain.
//!
//! Reading the clock costs ~25 ns on a virtual machine, and every layer
//! wants "now" when it is called: the timeout for its end, the limiters
//! for round-trip times, the breaker for its window. Between the
//! outermost layer's `call` and the innermost's, only the layers' own
//! synchronous bookkeeping runs — well under a microsecond — so one
//! reading, taken by the outermost Buttress layer, serves them all.
//!
//! [`enter`] marks a `call` with an instant every layer inside it reads
//! through [`now`], until its guard drops; outside such a call (in a future's `poll`, after a
//! wait in a queue, in a retried attempt) [`now`] reads the clock. So a
//! layer never sees an instant older than the call chain it is part of.
//!
//! ```
//! use buttress_core::clock;
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let start = Instant::now();
//! let seen = {
//!     let _chain = clock::enter(start);
//!     clock::now()
//! };
//! assert_eq!(seen, start);
//! assert!(clock::now() >= start); // outside the call: a fresh reading
//! # }
//! ```

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    /// The instant of the call chain running on this thread, if any.
    static CALL_START: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The instant of the call chain this runs in, or a fresh reading of the
/// clock outside one.
#[inline]
pub fn now() -> Instant {
    CALL_START.with(Cell::get).unwrap_or_else(Instant::now)
}

/// The instant of the call chain this runs in, if it runs in one.
#[inline]
pub fn call_start() -> Option<Instant> {
    CALL_START.with(Cell::get)
}

/// Makes `start` the [`now`] of this thread's call chain until the
/// returned guard drops, which puts back the enclosing chain's instant
/// (also when unwinding). Hold it for the body of a layer's `call` (a
/// guard rather than a closure, which would move the returned future once
/// more), never across an `.await`.
///
/// ```
/// use buttress_core::clock;
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let start = Instant::now();
/// {
///     let _chain = clock::enter(start);
///     assert_eq!(clock::now(), start);
/// }
/// assert_eq!(clock::call_start(), None);
/// # }
/// ```
#[inline]
#[must_use = "the instant applies only while the guard lives"]
pub fn enter(start: Instant) -> CallChain {
    CallChain {
        previous: CALL_START.with(|cell| cell.replace(Some(start))),
        _not_send: std::marker::PhantomData,
    }
}

/// The guard of [`enter`]: puts the enclosing chain's instant back when
/// dropped. Not `Send`: it belongs to the thread whose chain it marks.
#[derive(Debug)]
pub struct CallChain {
    previous: Option<Instant>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for CallChain {
    #[inline]
    fn drop(&mut self) {
        CALL_START.with(|cell| cell.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn chains_nest_and_unwind() {
        let outer = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let inner = Instant::now();
        assert_eq!(call_start(), None);
        {
            let _outer = enter(outer);
            assert_eq!(now(), outer);
            {
                let _inner = enter(inner);
                assert_eq!(now(), inner);
            }
            assert_eq!(now(), outer);
            let panicked = std::panic::catch_unwind(|| {
                let _inner = enter(inner);
                panic!("layer bug")
            });
            assert!(panicked.is_err());
            assert_eq!(now(), outer);
        }
        assert_eq!(call_start(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(now() > inner);
    }
}
