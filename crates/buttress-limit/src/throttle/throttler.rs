//! The shared state of a throttle: its window, its random stream.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::clock::{self, nanos, ticks};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::{Event, GaugeKind, Telemetry};

use super::config::ThrottleConfig;
use super::odds::reject_probability;
use super::window::SlidingWindow;

/// A throttle's state, created once when the layer is built.
#[derive(Debug)]
pub(crate) struct Throttler {
    window: SlidingWindow,
    rng: SharedRng,
    /// `k` and `max_probability` as `f64` bits, the hint in nanoseconds:
    /// changeable while the layer runs, read with relaxed loads.
    k: AtomicU64,
    max_probability: AtomicU64,
    retry_after: AtomicU64,
    /// The config the layer was built with: what is fixed comes from it.
    pub(crate) config: ThrottleConfig,
    /// The config as last applied, for the handle to show.
    pub(crate) current: Mutex<ThrottleConfig>,
    pub(crate) telemetry: Telemetry,
}

impl Throttler {
    pub(crate) fn new(config: ThrottleConfig, telemetry: Telemetry) -> Self {
        let bucket = nanos(config.window / config.buckets).max(1);
        let throttler = Throttler {
            window: SlidingWindow::new(config.buckets as usize, bucket),
            rng: SharedRng::seeded_or_random(config.seed),
            k: AtomicU64::new(config.k.to_bits()),
            max_probability: AtomicU64::new(config.max_probability.to_bits()),
            retry_after: AtomicU64::new(nanos(config.retry_after)),
            current: Mutex::new(config.clone()),
            config,
            telemetry,
        };
        throttler.report_probability();
        throttler
    }

    #[inline]
    fn k(&self) -> f64 {
        f64::from_bits(self.k.load(Ordering::Relaxed))
    }

    /// The hint of a throttled call now.
    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.retry_after.load(Ordering::Relaxed))
    }

    /// Takes a checked config's `k`, cap and hint; the window's counts
    /// stay.
    pub(crate) fn reconfigure(&self, config: &ThrottleConfig) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.k.store(config.k.to_bits(), Ordering::Relaxed);
        self.max_probability
            .store(config.max_probability.to_bits(), Ordering::Relaxed);
        self.retry_after
            .store(nanos(config.retry_after), Ordering::Relaxed);
        *current = ThrottleConfig {
            name: current.name.clone(),
            ..config.clone()
        };
        drop(current);
        self.report_probability();
    }

    /// Whether to send a request. While the dependency accepts at least
    /// `1/k` of what is sent this is one atomic load and a comparison.
    #[inline]
    pub(crate) fn admit(&self) -> bool {
        let counts = self.window.counts();
        if counts.requests as f64 <= self.k() * counts.accepts as f64 {
            self.telemetry.report(Event::Admitted);
            return true;
        }
        self.admit_slow()
    }

    #[cold]
    #[inline(never)]
    fn admit_slow(&self) -> bool {
        let now = self.now();
        if self.window.advance(now) {
            self.report_probability();
        }
        let p = self.probability();
        if self.rng.chance(p) {
            // A request the dependency never saw, but a request: counting
            // it keeps the odds up while the dependency stays sick.
            if self.window.record(now, 1, 0) {
                self.report_probability();
            }
            self.telemetry
                .report(Event::Rejected(buttress_core::Reason::Throttled));
            return false;
        }
        self.telemetry.report(Event::Admitted);
        true
    }

    /// Records a sent call's outcome: a success is a request accepted, a
    /// failure a request refused; a call refused by an inner layer before
    /// sending (an open breaker) or cancelled counts as neither.
    #[inline]
    pub(crate) fn record(&self, outcome: Outcome) {
        let accepts = match outcome {
            Outcome::Success => 1,
            Outcome::Failure => 0,
            Outcome::Ignored | Outcome::Cancelled => return,
        };
        if self.window.record(self.now(), 1, accepts) {
            self.report_probability();
        }
    }

    /// The chance of rejecting a request now (as of the window's last
    /// move).
    pub(crate) fn probability(&self) -> f64 {
        reject_probability(
            self.window.counts(),
            self.k(),
            f64::from_bits(self.max_probability.load(Ordering::Relaxed)),
        )
    }

    /// Moves the window to now and returns the chance of rejecting.
    pub(crate) fn probability_now(&self) -> f64 {
        if self.window.advance(self.now()) {
            self.report_probability();
        }
        self.probability()
    }

    /// Requests and accepts in the window now.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.window.advance(self.now());
        let counts = self.window.counts();
        (counts.requests, counts.accepts)
    }

    /// Now, in the process-wide [`ticks`] the window counts in.
    #[inline]
    fn now(&self) -> u64 {
        ticks(clock::now())
    }

    fn report_probability(&self) {
        self.telemetry.report(Event::Gauge {
            kind: GaugeKind::Probability,
            value: self.probability(),
        });
    }
}
