//! The shared state of an adaptive limit: permits, the open window, and
//! the controller that moves the limit once per window.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::clock::{self, nanos, ticks};
use buttress_core::telemetry::{Event, GaugeKind, Replay, Telemetry};
use tokio::time::Instant;

use super::algorithm::{LimitAlgorithm, Sample};
use super::config::AdaptiveLimitConfig;
use super::window::Window;
use crate::permit::pool::report_settled;
use crate::permit::{PermitOwner, PermitPool};

/// What the controller alone touches, once per window.
#[derive(Debug)]
struct Control {
    algorithm: Box<dyn LimitAlgorithm>,
    limit: f64,
    /// The baseline round trip, in nanoseconds: an exponentially-decaying
    /// average of the windows' mean round trips (`None` before the first
    /// window). Not an all-time minimum: one cheap route (a 404 answered
    /// in microseconds) would set a minimum that every real call exceeds
    /// many times over, and a minimum can only fall.
    baseline: Option<f64>,
    /// While re-probing the baseline round trip: the limit to restore.
    probing: Option<f64>,
    next_probe: Instant,
    rng: fastrand::Rng,
    /// The bounds of the limit now (they may change while the layer runs).
    min_limit: usize,
    max_limit: usize,
}

/// How long a caller may wait for a permit, and the hint of a refusal, in
/// nanoseconds: read only by callers that found no free permit, and
/// changeable while the layer runs.
#[derive(Debug)]
struct Waits {
    max_wait: AtomicU64,
    codel_target: AtomicU64,
    codel_interval: AtomicU64,
    retry_after: AtomicU64,
}

impl Waits {
    fn set(&self, config: &AdaptiveLimitConfig) {
        let store = |cell: &AtomicU64, value: Duration| cell.store(nanos(value), Ordering::Relaxed);
        store(&self.max_wait, config.max_wait);
        store(&self.codel_target, config.effective_codel_target());
        store(&self.codel_interval, config.codel_interval);
        store(&self.retry_after, config.retry_after);
    }

    fn get(cell: &AtomicU64) -> Duration {
        Duration::from_nanos(cell.load(Ordering::Relaxed))
    }
}

/// An adaptive limit's state, created once when the layer is built.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) pool: PermitPool,
    /// The config the layer was built with: what is fixed comes from it.
    pub(crate) config: AdaptiveLimitConfig,
    /// The config as last applied, for the handle to show.
    pub(crate) current: Mutex<AdaptiveLimitConfig>,
    waits: Waits,
    pub(crate) telemetry: Telemetry,
    window: Window,
    /// When the open window may close, in [`clock::ticks`].
    window_end: AtomicU64,
    /// Taken with `try_lock` by the one call that closes a window; calls
    /// that find it taken just go on.
    control: Mutex<Control>,
    no_load_rtt_nanos: AtomicU64,
    /// When a queued caller last gave up (its patience or deadline ran
    /// out), in [`clock::ticks`] plus one; 0 for never.
    last_gave_up: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(
        config: AdaptiveLimitConfig,
        algorithm: Box<dyn LimitAlgorithm>,
        telemetry: Telemetry,
    ) -> Self {
        let now = Instant::now();
        let mut rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let next_probe = clock::after(
            now,
            jittered(config.probe_interval, config.probe_jitter, &mut rng),
        );
        let initial = config.effective_initial_limit();
        let limiter = Limiter {
            // The pool reports in flight and queued itself, on every
            // change. Sampled only when a window closed — by the closing
            // call, its own permit still out — the in-flight gauge read 1
            // after every call had ended.
            pool: PermitPool::new(initial, config.queue_capacity, config.order)
                .with_telemetry(telemetry.clone())
                .reporting_gauges(),
            window: Window::new(),
            window_end: AtomicU64::new(ticks(now).saturating_add(nanos(config.window))),
            control: Mutex::new(Control {
                algorithm,
                limit: initial as f64,
                baseline: None,
                probing: None,
                next_probe,
                rng,
                min_limit: config.min_limit,
                max_limit: config.max_limit,
            }),
            current: Mutex::new(config.clone()),
            waits: Waits {
                max_wait: AtomicU64::new(0),
                codel_target: AtomicU64::new(0),
                codel_interval: AtomicU64::new(0),
                retry_after: AtomicU64::new(0),
            },
            no_load_rtt_nanos: AtomicU64::new(0),
            last_gave_up: AtomicU64::new(0),
            telemetry,
            config,
        };
        limiter.waits.set(&limiter.config);
        limiter.replay(&mut |event| limiter.telemetry.report(event));
        limiter
    }

    /// The hint of a refusal now.
    pub(crate) fn retry_after(&self) -> Duration {
        Waits::get(&self.waits.retry_after)
    }

    /// Takes a checked config's bounds and waits: a limit outside the new
    /// bounds moves inside them at once; the controller goes on from there.
    pub(crate) fn reconfigure(&self, config: &AdaptiveLimitConfig) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.waits.set(config);
        let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        control.min_limit = config.min_limit;
        control.max_limit = config.max_limit;
        let (min, max) = (config.min_limit as f64, config.max_limit as f64);
        control.limit = control.limit.clamp(min, max);
        match control.probing.as_mut() {
            // A probe runs at the minimum; the limit it restores is bounded too.
            Some(restore) => {
                *restore = restore.clamp(min, max);
                self.pool.set_limit(config.min_limit);
            }
            None => self.pool.set_limit(control.limit.round() as usize),
        }
        drop(control);
        *current = AdaptiveLimitConfig {
            name: current.name.clone(),
            ..config.clone()
        };
    }

    /// How long a caller arriving at `now` may wait: `max_wait` while the
    /// queue is healthy, CoDel's target once it stands. It stands when it
    /// has held someone for an interval without emptying, and also when a
    /// waiter gave up within the last interval: under overload the queue
    /// empties by waiters running out of time, and an emptied queue must
    /// not hand the next caller the full `max_wait` again.
    pub(crate) fn patience(&self, now: Instant) -> Duration {
        let interval = Waits::get(&self.waits.codel_interval);
        let gave_up = self.last_gave_up.load(Ordering::Relaxed);
        let recently_gave_up =
            gave_up != 0 && ticks(now).saturating_sub(gave_up - 1) < nanos(interval);
        if recently_gave_up || self.pool.busy_for(now) > interval {
            Waits::get(&self.waits.codel_target)
        } else {
            Waits::get(&self.waits.max_wait)
        }
    }

    /// A queued caller gave up at `now`: the queue could not serve it in
    /// time.
    pub(crate) fn waiter_gave_up(&self, now: Instant) {
        self.last_gave_up
            .store(ticks(now).saturating_add(1), Ordering::Relaxed);
    }

    /// Records a call that ended at `now` with `outcome`, `rtt` after it
    /// was admitted.
    #[inline]
    pub(crate) fn record(&self, outcome: Outcome, rtt: Duration, now: Instant) {
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            // Never reached the dependency, or nobody waited for it: says
            // nothing about its latency.
            Outcome::Ignored | Outcome::Cancelled => return,
        };
        let slow = self.config.drop_above.is_some_and(|limit| rtt > limit);
        let full = self
            .window
            .record(nanos(rtt), failed || slow, self.pool.in_flight());
        let at = ticks(now);
        if full || at >= self.window_end.load(Ordering::Relaxed) {
            self.close_window(now, at, full);
        }
    }

    #[cold]
    fn close_window(&self, now: Instant, at: u64, full: bool) {
        if !full && self.window.calls() < self.config.window_min_calls {
            return;
        }
        let Ok(mut guard) = self.control.try_lock() else {
            return;
        };
        if !full && at < self.window_end.load(Ordering::Relaxed) {
            return; // another call closed it meanwhile
        }
        let snap = self.window.take();
        if snap.calls == 0 {
            return;
        }
        let window_min = Duration::from_nanos(snap.rtt_min_nanos);
        let mean = snap.rtt_sum_nanos as f64 / f64::from(snap.calls);
        let control = &mut *guard;
        if let Some(restore) = control.probing.take() {
            // The probe window ran at the minimum limit: its mean is the
            // dependency's unloaded round trip now. It pulls the baseline
            // halfway there (undoing the drift of a long overload, or
            // following a dependency that got slower for good) rather
            // than replacing it: a probe that lands while a client floods
            // a cheap route sees that route's mix, and must not set the
            // baseline on its own.
            let baseline = control.baseline.map_or(mean, |known| (known + mean) / 2.0);
            control.baseline = Some(baseline);
            control.limit = restore;
            control.next_probe = clock::after(
                now,
                jittered(
                    self.config.probe_interval,
                    self.config.probe_jitter,
                    &mut control.rng,
                ),
            );
            self.pool.set_limit(restore.round() as usize);
        } else {
            // The window is judged against the baseline before it, then
            // joins it.
            let baseline = control.baseline.unwrap_or(mean);
            let weight = 2.0 / (f64::from(self.config.baseline_windows) + 1.0);
            control.baseline = Some(baseline + weight * (mean - baseline));
            if now >= control.next_probe {
                control.probing = Some(control.limit);
                self.pool.set_limit(control.min_limit);
            } else {
                let sample = Sample {
                    rtt: Duration::from_nanos(mean as u64),
                    min_rtt_in_window: window_min,
                    no_load_rtt: Duration::from_nanos(baseline as u64),
                    calls: snap.calls,
                    drops: snap.drops,
                    max_in_flight: snap.max_in_flight,
                };
                let current = control.limit;
                let mut next = control.algorithm.update(current, &sample);
                if !next.is_finite() {
                    next = current;
                }
                // Not raised while unused: an idle service earns nothing.
                if next > current && (sample.max_in_flight as f64) * 2.0 < current {
                    next = current;
                }
                next = next.clamp(control.min_limit as f64, control.max_limit as f64);
                control.limit = next;
                self.pool.set_limit(next.round() as usize);
            }
        }
        let no_load = Duration::from_nanos(control.baseline.unwrap_or_default() as u64);
        self.no_load_rtt_nanos
            .store(nanos(no_load), Ordering::Relaxed);
        let length = self.config.window.max(no_load * 2);
        self.window_end
            .store(at.saturating_add(nanos(length)), Ordering::Relaxed);
        drop(guard);
        self.report_window_gauges(&mut |event| self.telemetry.report(event));
    }

    /// The gauges a closed window moves: the limit and the no-load round
    /// trip. (In flight and queued are the pool's to report.)
    fn report_window_gauges(&self, report: &mut dyn FnMut(Event)) {
        report_settled(GaugeKind::Limit, || self.pool.limit(), &mut *report);
        report(Event::Gauge {
            kind: GaugeKind::MinRtt,
            value: self.no_load_rtt().as_secs_f64(),
        });
    }

    /// The baseline round trip (zero before the first window).
    pub(crate) fn no_load_rtt(&self) -> Duration {
        Duration::from_nanos(self.no_load_rtt_nanos.load(Ordering::Relaxed))
    }

    /// The exact limit, before rounding.
    pub(crate) fn limit_exact(&self) -> f64 {
        self.control
            .lock()
            .map_or(self.pool.limit() as f64, |control| control.limit)
    }
}

/// Every gauge as it reads now: when the limiter is built, and for a sink
/// that binds after it was (installed later).
impl Replay for Limiter {
    fn replay(&self, report: &mut dyn FnMut(Event)) {
        self.report_window_gauges(report);
        self.pool.replay(report);
    }
}

/// `interval`, plus up to `jitter` of it at random.
fn jittered(interval: Duration, jitter: f64, rng: &mut fastrand::Rng) -> Duration {
    interval + interval.mul_f64(jitter * rng.f64())
}

/// The limiter owns its permit pool and learns from every call that held
/// one of its permits.
impl PermitOwner for Limiter {
    #[inline]
    fn pool(&self) -> &PermitPool {
        &self.pool
    }

    #[inline]
    fn finished(&self, outcome: Outcome, rtt: Duration, ended: Option<Instant>) {
        self.record(outcome, rtt, ended.unwrap_or_else(Instant::now));
    }
}
