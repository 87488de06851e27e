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
//!
//! Lock-free state keeps instants as `u64` nanoseconds: [`ticks`] counts
//! them from one process-wide epoch shared by every layer, [`instant`]
//! turns them back, and [`nanos`] is a duration's count, saturating.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

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

/// The instant [`ticks`] counts from: the first reading in the process,
/// set back as far as the monotonic clock allows (up to a day) so that a
/// test runtime whose paused clock froze before the first reading still
/// reads after the epoch.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = std::time::Instant::now();
        let back = [86_400, 3_600, 600, 60, 1]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now);
        Instant::from_std(back)
    })
}

/// Nanoseconds from the process-wide epoch to `at` (zero before it): how
/// lock-free state stores an instant in one atomic word. Every layer
/// counts from the same epoch, so ticks from different layers compare.
///
/// ```
/// use buttress_core::clock;
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let now = Instant::now();
/// let later = now + Duration::from_millis(5);
/// assert_eq!(clock::ticks(later) - clock::ticks(now), 5_000_000);
/// assert_eq!(clock::instant(clock::ticks(now)), now);
/// ```
#[inline]
pub fn ticks(at: Instant) -> u64 {
    nanos(at.saturating_duration_since(epoch()))
}

/// The instant `ticks` nanoseconds after the process-wide epoch (see
/// [`ticks`]); saturates far in the future instead of overflowing.
pub fn instant(ticks: u64) -> Instant {
    let epoch = epoch();
    epoch
        .checked_add(Duration::from_nanos(ticks))
        .unwrap_or_else(|| far_future(epoch))
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `from + after`, or a far-future instant where that would overflow:
/// instant arithmetic on configured durations never panics.
///
/// ```
/// use buttress_core::clock;
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let now = Instant::now();
/// assert!(clock::after(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
/// ```
#[inline]
pub fn after(from: Instant, after: Duration) -> Instant {
    from.checked_add(after).unwrap_or_else(|| far_future(from))
}

/// About thirty years after `from`: as far as any timer needs to look.
fn far_future(from: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(THIRTY_YEARS).unwrap_or(from)
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
