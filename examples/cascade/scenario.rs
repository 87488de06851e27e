//! The script: phases, their lengths, and which one is playing now.

use std::time::Duration;

use tokio::time::Instant;

/// Naive HTTP calls, or Buttress stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain hyper clients: a fixed timeout per call and immediate retries
    /// on errors and 5xx — the hand-rolled policy many services start
    /// with.
    Naive,
    /// Buttress server and client stacks.
    Buttress,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Naive => "naive",
            Mode::Buttress => "buttress",
        }
    }
}

/// The scenario's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Everything healthy.
    Normal,
    /// C answers 500 at once.
    CFails,
    /// C answers after `Settings::c_slow_delay` (seconds).
    CSlow,
    /// C is healthy again.
    CRecovers,
    /// B answers 500 at once.
    BFails,
    /// B is healthy again.
    BRecovers,
    /// `Settings::spike`× the traffic; the extra part is sheddable.
    Spike,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Normal,
        Phase::CFails,
        Phase::CSlow,
        Phase::CRecovers,
        Phase::BFails,
        Phase::BRecovers,
        Phase::Spike,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Phase::Normal => "normal",
            Phase::CFails => "C fails",
            Phase::CSlow => "C slow",
            Phase::CRecovers => "C recovers",
            Phase::BFails => "B fails",
            Phase::BRecovers => "B recovers",
            Phase::Spike => "3x spike",
        }
    }

    /// Phases after which the time to recover is measured.
    pub fn is_recovery(self) -> bool {
        matches!(self, Phase::CRecovers | Phase::BRecovers)
    }
}

/// What the command line can change.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second outside the spike.
    pub rate: f64,
    /// The spike's multiple of `rate`.
    pub spike: f64,
    /// Each phase's length, in `Phase::ALL` order.
    pub phases: [Duration; 7],
    /// How long C takes to answer while slow.
    pub c_slow_delay: Duration,
    /// The load generator's own timeout (and the deadline it sends).
    pub client_timeout: Duration,
    /// B's capacity: workers, each busy `work` per request.
    pub b_workers: usize,
    /// B's work per request.
    pub work: Duration,
    /// Attempts per call in the naive run (1 + retries).
    pub naive_attempts: u32,
    /// The naive clients' timeout per call.
    pub naive_timeout: Duration,
    /// No live lines.
    pub quiet: bool,
}

impl Settings {
    /// The demo's default: 23 s per run, 100 req/s, a 3× spike.
    pub fn standard() -> Self {
        Settings {
            rate: 100.0,
            spike: 3.0,
            phases: [2.0, 4.0, 4.0, 3.0, 3.0, 3.0, 4.0].map(Duration::from_secs_f64),
            c_slow_delay: Duration::from_secs(2),
            client_timeout: Duration::from_secs(2),
            b_workers: 4,
            work: Duration::from_millis(20),
            naive_attempts: 3,
            naive_timeout: Duration::from_secs(1),
            quiet: false,
        }
    }

    /// Every phase scaled so that a run lasts `total`.
    pub fn with_duration(mut self, total: Duration) -> Self {
        let now: f64 = self.phases.iter().map(Duration::as_secs_f64).sum();
        let factor = total.as_secs_f64() / now;
        self.phases = self.phases.map(|p| p.mul_f64(factor));
        self
    }

    /// One run's length.
    pub fn run_length(&self) -> Duration {
        self.phases.iter().sum()
    }
}

/// The scenario's clock: which phase plays now.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub start: Instant,
    /// Each phase's end, from the start.
    pub ends: [Duration; 7],
}

impl Scenario {
    pub fn start(settings: &Settings) -> Self {
        let mut ends = [Duration::ZERO; 7];
        let mut total = Duration::ZERO;
        for (end, length) in ends.iter_mut().zip(settings.phases) {
            total += length;
            *end = total;
        }
        Scenario {
            start: Instant::now(),
            ends,
        }
    }

    /// The phase playing at `elapsed` from the start (the last one after
    /// the end).
    pub fn phase_after(&self, elapsed: Duration) -> Phase {
        let index = self.ends.iter().position(|end| elapsed < *end).unwrap_or(6);
        Phase::ALL[index]
    }

    pub fn phase_now(&self) -> Phase {
        self.phase_after(self.start.elapsed())
    }

    /// When `phase` starts, from the start.
    pub fn phase_start(&self, phase: Phase) -> Duration {
        match phase.index() {
            0 => Duration::ZERO,
            i => self.ends[i - 1],
        }
    }

    pub fn length(&self) -> Duration {
        self.ends[6]
    }
}
