//! The retry budget: retries may add at most a ratio of the request rate,
//! plus a small floor, over a sliding window.
//!
//! # Why a budget, and not only a maximum number of attempts
//!
//! A maximum of attempts bounds what one request may cost, not what the
//! whole client may cost. When a dependency fails every call, "three
//! attempts" quadruples its load at the worst moment; and when every hop of
//! a chain retries three times, hop *n* sees 4ⁿ times the traffic. That is a
//! retry storm: retries keep a dependency down long after the fault that
//! started it.
//!
//! A budget bounds the sum. Every request the layer sees deposits into a
//! sliding window; every retry withdraws. Retries are allowed while they
//! stay below `ratio` of the requests in the window plus a reserve of
//! `min_per_sec × window` (so a quiet client can still retry its rare
//! failures). With the defaults (10 %, 10/s, 10 s) a dependency that fails
//! everything sees at most about 1.1 times the original traffic, not 4.
//! When the budget is spent, the last answer is returned as it is and the
//! layer reports [`Event::BudgetExhausted`](buttress_core::telemetry::Event).
//!
//! A budget is shared: every clone of a layer's services and every key use
//! the one budget built with the layer, and the same [`RetryBudget`] can be
//! given to several layers (say, every route to one dependency) so that
//! they draw on one allowance.
//!
//! The bookkeeping is one or two atomic operations per request, with no
//! lock and no allocation, and it reads the clock only when the request's
//! context does not already say when it started, and then once per 32
//! requests. Its core counts over core's
//! [`SlidingWindow`](buttress_core::window::SlidingWindow), the window
//! every layer shares, in [`clock::ticks`],
//! and knows nothing of tokio, so it can be model-checked alone.
//!
//! ```
//! use buttress_retry::{BudgetConfig, RetryBudget};
//! use std::time::Duration;
//! use tokio::time::Instant;
//!
//! let budget = RetryBudget::new(&BudgetConfig {
//!     ratio: 0.2,
//!     min_per_sec: 0,
//!     window: Duration::from_secs(10),
//! })
//! .unwrap();
//! let now = Instant::now();
//! for _ in 0..10 {
//!     budget.deposit(now);
//! }
//! assert!(budget.withdraw(now));
//! assert!(budget.withdraw(now));
//! assert!(!budget.withdraw(now), "20 % of 10 requests is 2 retries");
//! ```

pub(crate) mod core;

use std::fmt;
use std::sync::Arc;

use buttress_core::clock::{self, nanos, ticks};
use buttress_core::config::ConfigError;
use tokio::time::Instant;

use self::core::{BudgetCore, MAX_SLOTS};
use crate::config::BudgetConfig;

/// How many slots the window is split into: the window slides by a tenth
/// of its span.
const SLOTS: u64 = 10;

/// A retry budget shared by every clone of a layer (and by several layers
/// if given to each). Cloning shares it. See the [module
/// documentation](self).
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    core: BudgetCore,
    config: BudgetConfig,
}

impl RetryBudget {
    /// A budget as `config` describes, validated.
    ///
    /// # Errors
    ///
    /// If the ratio is not within 0 to 10, the floor is above 100,000 per
    /// second, or the window is shorter than 10 ms or longer than one hour.
    pub fn new(config: &BudgetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let millis = u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX);
        let slot_ticks = (nanos(config.window) / SLOTS).max(1);
        let reserve = u64::from(config.min_per_sec).saturating_mul(millis) / 1_000;
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                core: BudgetCore::new(SLOTS as usize, slot_ticks, config.ratio, reserve),
                config: config.clone(),
            }),
        })
    }

    /// Counts one request (not a retry) seen at `now`.
    pub fn deposit(&self, now: Instant) {
        self.inner.core.deposit(ticks(now));
    }

    /// Counts one request (not a retry) seen about now, reading the clock
    /// only once per batch of 32 such requests.
    pub fn deposit_untimed(&self) {
        if self.inner.core.note() {
            self.inner.core.flush(ticks(clock::now()));
        }
    }

    /// Takes one retry at `now`, if the window allows it; `false` when the
    /// budget is spent.
    pub fn withdraw(&self, now: Instant) -> bool {
        self.inner.core.withdraw(ticks(now))
    }

    /// How many more retries the window allows at `now`.
    ///
    /// ```
    /// use buttress_retry::{BudgetConfig, RetryBudget};
    /// use tokio::time::Instant;
    ///
    /// let budget = RetryBudget::new(&BudgetConfig::default()).unwrap();
    /// // Before any request, the floor: 10 per second over a 10 s window.
    /// assert_eq!(budget.remaining(Instant::now()), 100);
    /// ```
    pub fn remaining(&self, now: Instant) -> u64 {
        let now = ticks(now);
        self.inner.core.flush(now);
        let window = self.inner.core.window(now);
        window.allowed.saturating_sub(window.retries)
    }

    /// The configuration the budget was built from.
    pub fn config(&self) -> &BudgetConfig {
        &self.inner.config
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

const _: () = assert!(SLOTS as usize <= MAX_SLOTS);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(ratio: f64, min_per_sec: u32, window: Duration) -> RetryBudget {
        RetryBudget::new(&BudgetConfig {
            ratio,
            min_per_sec,
            window,
        })
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn floor_refills_as_the_window_slides() {
        let budget = budget(0.0, 1, Duration::from_secs(10));
        let start = Instant::now();
        let taken = (0..20).filter(|_| budget.withdraw(start)).count();
        assert_eq!(taken, 10);
        assert!(!budget.withdraw(start + Duration::from_secs(9)));
        // The slot holding those retries leaves the window after 10 s.
        assert!(budget.withdraw(start + Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_one_budget() {
        let a = budget(0.5, 0, Duration::from_secs(1));
        let b = a.clone();
        let now = Instant::now();
        a.deposit(now);
        a.deposit(now);
        assert!(b.withdraw(now));
        assert!(!a.withdraw(now));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = |ratio, min_per_sec, window| {
            RetryBudget::new(&BudgetConfig {
                ratio,
                min_per_sec,
                window,
            })
            .unwrap_err()
            .field()
            .to_owned()
        };
        assert_eq!(bad(-0.1, 1, Duration::from_secs(1)), "ratio");
        assert_eq!(bad(f64::NAN, 1, Duration::from_secs(1)), "ratio");
        assert_eq!(bad(0.1, 1_000_000, Duration::from_secs(1)), "min_per_sec");
        assert_eq!(bad(0.1, 1, Duration::from_millis(1)), "window");
        assert_eq!(bad(0.1, 1, Duration::from_secs(7_200)), "window");
    }
}
