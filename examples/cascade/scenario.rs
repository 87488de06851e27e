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
    /// Buttress server and client stacks, configured from TOML.
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
    /// C answers after `Settings::c_slow_delay`.
    CSlow,
    /// C is healthy again.
    CRecovers,
    /// B answers 500 at once.
    BFails,
    /// B is healthy again.
    BRecovers,
    /// One more caller sends `Settings::greedy`× the others' traffic.
    Greedy,
    /// `Settings::spike`× the traffic; the extra part is sheddable.
    Spike,
}

/// How many phases there are.
pub const PHASES: usize = 8;

impl Phase {
    pub const ALL: [Phase; PHASES] = [
        Phase::Normal,
        Phase::CFails,
        Phase::CSlow,
        Phase::CRecovers,
        Phase::BFails,
        Phase::BRecovers,
        Phase::Greedy,
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
            Phase::Greedy => "greedy",
            Phase::Spike => "spike",
        }
    }

    /// Phases after which the time to recover is measured: a breaker
    /// holds traffic back until its wait ends and its probes succeed.
    pub fn is_recovery(self) -> bool {
        matches!(self, Phase::CRecovers | Phase::BRecovers)
    }

    /// Phases in which C fails or is slow.
    pub fn c_down(self) -> bool {
        matches!(self, Phase::CFails | Phase::CSlow)
    }
}

/// What the command line can change.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests per second from the regular callers, outside the spike.
    pub rate: f64,
    /// The regular callers, each with its own API key, sharing `rate`.
    pub callers: usize,
    /// The spike's multiple of `rate`.
    pub spike: f64,
    /// The greedy caller's rate, as a multiple of `rate`.
    pub greedy: f64,
    /// Each phase's length, in `Phase::ALL` order.
    pub phases: [Duration; PHASES],
    /// How long C takes to answer while slow.
    pub c_slow_delay: Duration,
    /// The load generator's own timeout, and the deadline it sends: a
    /// caller's patience.
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
    /// The demo's default: 24 s per run, 100 req/s from 10 callers, a
    /// greedy caller at 3× that, a 3× spike.
    pub fn standard() -> Self {
        Settings {
            rate: 100.0,
            callers: 10,
            spike: 3.0,
            greedy: 3.0,
            phases: [2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 4.0].map(Duration::from_secs_f64),
            c_slow_delay: Duration::from_secs(2),
            client_timeout: Duration::from_secs(1),
            b_workers: 4,
            work: Duration::from_millis(20),
            naive_attempts: 3,
            // The same patience as the caller's: a naive service passes
            // on the one timeout it was given.
            naive_timeout: Duration::from_secs(1),
            quiet: false,
        }
    }

    /// The test's scenario: 6.5 s per run. Recovery phases keep a whole
    /// second, room for the breakers' 500 ms wait and their probes.
    pub fn short() -> Self {
        Settings {
            phases: [0.5, 0.75, 0.75, 1.0, 0.75, 1.0, 0.75, 1.0].map(Duration::from_secs_f64),
            quiet: true,
            ..Settings::standard()
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
    pub ends: [Duration; PHASES],
}

impl Scenario {
    pub fn start(settings: &Settings) -> Self {
        let mut ends = [Duration::ZERO; PHASES];
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
        let index = self
            .ends
            .iter()
            .position(|end| elapsed < *end)
            .unwrap_or(PHASES - 1);
        Phase::ALL[index]
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn phase_now(&self) -> Phase {
        self.phase_after(self.elapsed())
    }

    /// When `phase` starts, from the start.
    pub fn phase_start(&self, phase: Phase) -> Duration {
        match phase.index() {
            0 => Duration::ZERO,
            i => self.ends[i - 1],
        }
    }

    /// When `phase` ends, from the start.
    pub fn phase_end(&self, phase: Phase) -> Duration {
        self.ends[phase.index()]
    }

    pub fn length(&self) -> Duration {
        self.ends[PHASES - 1]
    }
}
