//! The shared state of a throttle: its window, its random stream.

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
    pub(crate) config: ThrottleConfig,
    pub(crate) telemetry: Telemetry,
}

impl Throttler {
    pub(crate) fn new(config: ThrottleConfig, telemetry: Telemetry) -> Self {
        let bucket = nanos(config.window / config.buckets).max(1);
        let throttler = Throttler {
            window: SlidingWindow::new(config.buckets as usize, bucket),
            rng: SharedRng::seeded_or_random(config.seed),
            config,
            telemetry,
        };
        throttler.report_probability();
        throttler
    }

    /// Whether to send a request. While the dependency accepts at least
    /// `1/k` of what is sent this is one atomic load and a comparison.
    #[inline]
    pub(crate) fn admit(&self) -> bool {
        let counts = self.window.counts();
        if counts.requests as f64 <= self.config.k * counts.accepts as f64 {
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
            self.config.k,
            self.config.max_probability,
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
