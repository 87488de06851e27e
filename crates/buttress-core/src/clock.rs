//! Time, read once per call chain and kept as plain numbers.
//!
//! Every layer wants "now" when it is called: the timeout for its end,
//! the limiters for round-trip times, the breaker for its window. Inside a
//! [`chain`](crate::chain) (the body of the outermost Buttress layer's
//! `call`) [`now`] is the chain's one reading; outside one (in a future's
//! `poll`, after a wait in a queue, in a retried attempt) it reads the
//! clock. So a layer never sees an instant older than the call chain it is
//! part of.
//!
//! ```
//! use buttress_core::{chain, clock};
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let start = Instant::now();
//! let seen = {
//!     let _chain = chain::enter(start);
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

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// The start of the call chain this runs in (see [`chain`](crate::chain)),
/// or a fresh reading of the clock outside one.
#[inline]
pub fn now() -> Instant {
    crate::chain::start().unwrap_or_else(Instant::now)
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
