//! The shared state of a load shedder and its admission decision.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use buttress_core::access::RequestAccess;
use buttress_core::clock::{self, nanos, ticks};
use buttress_core::telemetry::{Event, GaugeKind, Telemetry};
use buttress_core::{Criticality, RequestContext};
use tokio::time::Instant;

use super::config::ShedConfig;
use super::level::{Change, LEVEL_NAMES, ShedLevel};
use super::priority::{PriorityRules, rank};
use super::signal::{Pressure, Probe, Signal};

/// The calls in flight, on a cache line of their own: every call writes
/// it twice.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counter(AtomicUsize);

/// A shedder's state, created once when the layer is built.
#[derive(Debug)]
pub(crate) struct Shedder {
    in_flight: Counter,
    level: ShedLevel,
    pub(crate) signal: Signal,
    pub(crate) needs_clock: bool,
    needs_start: bool,
    rules: PriorityRules,
    /// The config the layer was built with: what is fixed comes from it.
    pub(crate) config: ShedConfig,
    /// The config as last applied, for the handle to show.
    pub(crate) current: Mutex<ShedConfig>,
    /// The retry hint of a shed request, in nanoseconds (changeable).
    retry_after: AtomicU64,
    pub(crate) telemetry: Telemetry,
}

/// What the shedder decided for one request.
pub(crate) enum Admission {
    /// Run it; `admitted_at` is set when the signal times calls.
    Admit { admitted_at: Option<Instant> },
    /// Shed it.
    Shed,
}

impl Shedder {
    pub(crate) fn new(
        config: ShedConfig,
        signal: Signal,
        rules: PriorityRules,
        telemetry: Telemetry,
    ) -> Self {
        Shedder {
            in_flight: Counter::default(),
            level: ShedLevel::new(
                nanos(config.escalate_after),
                nanos(config.cooldown),
                config.relax_ratio,
            ),
            needs_clock: signal.needs_clock() || signal.needs_request_start(),
            needs_start: signal.needs_request_start(),
            signal,
            rules,
            current: Mutex::new(config.clone()),
            retry_after: AtomicU64::new(nanos(config.retry_after)),
            config,
            telemetry,
        }
    }

    /// The retry hint of a shed request now.
    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.retry_after.load(Ordering::Relaxed))
    }

    /// Takes a checked config's dwell, cooldown, exit ratio and hint.
    pub(crate) fn reconfigure(&self, config: &ShedConfig) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.level.set(
            nanos(config.escalate_after),
            nanos(config.cooldown),
            config.relax_ratio,
        );
        self.retry_after
            .store(nanos(config.retry_after), Ordering::Relaxed);
        *current = ShedConfig {
            name: current.name.clone(),
            ..config.clone()
        };
    }

    /// Counts `request` in and decides. A shed request is counted out
    /// again; an admitted one must be counted out with
    /// [`release`](Self::release).
    #[inline]
    pub(crate) fn admit<Req: RequestAccess>(&self, request: &Req) -> Admission {
        let in_flight = self.in_flight.0.fetch_add(1, Ordering::Relaxed) + 1;
        let mut probe = Probe::new(in_flight);
        if self.needs_clock {
            let now = clock::now();
            probe.now = Some(now);
            if self.needs_start {
                probe.waited = start_of(request).map(|start| now.saturating_duration_since(start));
            }
        }
        if self.level.current() == 0 {
            let pressure = self.signal.pressure(&probe);
            if pressure != Pressure::Overloaded {
                self.telemetry.report(Event::Admitted);
                return Admission::Admit {
                    admitted_at: probe.now,
                };
            }
            return self.admit_slow(request, probe, Some(pressure));
        }
        self.admit_slow(request, probe, None)
    }

    /// Shedding, or about to start: find the request's priority and judge
    /// it against the level.
    #[cold]
    #[inline(never)]
    fn admit_slow<Req: RequestAccess>(
        &self,
        request: &Req,
        probe: Probe,
        pressure: Option<Pressure>,
    ) -> Admission {
        let at = ticks(probe.now.unwrap_or_else(clock::now));
        if let Some(change) = self.level.relax(at) {
            self.report_change(change);
        }
        let pressure = pressure.unwrap_or_else(|| self.signal.pressure(&probe));
        let mut level = self.level.current();
        if pressure == Pressure::Overloaded {
            if let Some(change) = self.level.escalate(level, at) {
                self.report_change(change);
            }
            level = self.level.current();
        }
        let class = rank(self.rules.priority_of(request));
        if class >= level || pressure == Pressure::Relieved {
            self.level.note(level, class, false);
            self.telemetry.report(Event::Admitted);
            return Admission::Admit {
                admitted_at: probe.now,
            };
        }
        self.in_flight.0.fetch_sub(1, Ordering::Relaxed);
        self.level.note(level, class, true);
        self.telemetry
            .report(Event::Rejected(buttress_core::Reason::Shed));
        Admission::Shed
    }

    /// Counts an admitted call out.
    #[inline]
    pub(crate) fn release(&self) {
        self.in_flight.0.fetch_sub(1, Ordering::Relaxed);
    }

    fn report_change(&self, change: Change) {
        self.telemetry.report(Event::StateChanged {
            from: LEVEL_NAMES[usize::from(change.from)],
            to: LEVEL_NAMES[usize::from(change.to)],
        });
        self.telemetry.report(Event::Gauge {
            kind: GaugeKind::InFlight,
            value: self.in_flight() as f64,
        });
    }

    /// Calls in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.0.load(Ordering::Relaxed)
    }

    /// The most important class being shed now, after letting a finished
    /// spike's level fall.
    pub(crate) fn shedding(&self) -> Option<Criticality> {
        let at = ticks(Instant::now());
        while let Some(change) = self.level.relax(at) {
            self.report_change(change);
        }
        match self.level.current() {
            0 => None,
            level => Some(Criticality::ALL[usize::from(level - 1)]),
        }
    }
}

/// When the request started, from its `RequestContext`.
fn start_of<Req: RequestAccess>(request: &Req) -> Option<Instant> {
    RequestContext::with_request(request, |ctx| ctx.map(RequestContext::start))
}
