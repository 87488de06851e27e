//! The shared state of a load shedder and its admission decision.

use std::sync::atomic::{AtomicUsize, Ordering};

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
    pub(crate) config: ShedConfig,
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
            config,
            telemetry,
        }
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
