//! Each phase of a run, summed up: what the callers got, how fast, what
//! reached B and C, what the layers refused, and how long recovery took.

use std::sync::Arc;
use std::time::Duration;

use buttress::Reason;

use super::Run;
use super::counters::{Counters, span};
use super::load::{Outcome, Record, quantile};
use super::scenario::{Phase, Scenario};

/// How a set of requests fared, in percent of `requests`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Share {
    pub requests: usize,
    pub success: f64,
    pub degraded: f64,
    pub refused: f64,
    pub failed: f64,
}

impl Share {
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Share {
        let mut counts = [0usize; 4];
        for record in records {
            counts[record.outcome() as usize] += 1;
        }
        let requests = counts.iter().sum();
        let pct = |n: usize| percent(n, requests);
        Share {
            requests,
            success: pct(counts[Outcome::Success as usize]),
            degraded: pct(counts[Outcome::Degraded as usize]),
            refused: pct(counts[Outcome::Refused as usize]),
            failed: pct(counts[Outcome::Failed as usize]),
        }
    }
}

/// `part` of `whole`, in percent (100 of nothing).
pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// How a recovery phase came back.
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    /// From the phase's start to the moment after which every request of
    /// the next quarter second succeeded, and at least [`RECOVERED`] % of
    /// those until the phase's end did; `None` if there is no such moment.
    pub after: Option<Duration>,
    /// The success of the requests sent from then on.
    pub success_after: f64,
}

/// The share of requests that must succeed from the recovery time on.
pub const RECOVERED: f64 = 99.0;

/// How long the first stretch after recovery must go without a miss.
pub const CLEAN: Duration = Duration::from_millis(250);

/// One phase of one run.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub phase: Phase,
    /// The regular callers' requests sent in the phase (the greedy
    /// caller's are apart, in `greedy`).
    pub all: Share,
    pub critical: Share,
    /// Sheddable requests (the spike's extra traffic only).
    pub sheddable: Share,
    /// The greedy caller's requests (its phase only).
    pub greedy: Share,
    pub p50: Duration,
    pub p99: Duration,
    /// Requests that reached B's handler and C, the greedy caller's
    /// included.
    pub b_hits: u64,
    pub c_hits: u64,
    /// Fallback answers B served for C's part.
    pub fallbacks: u64,
    /// Refusals by layer (`kind/name`) and reason, most first.
    pub rejections: Vec<(Arc<str>, Reason, u64)>,
    /// Recovery phases only.
    pub recovery: Option<Recovery>,
}

/// The summary of every phase of `run`.
pub fn summarize(run: &Run) -> Vec<PhaseStats> {
    Phase::ALL
        .iter()
        .map(|&phase| phase_stats(run, phase))
        .collect()
}

fn phase_stats(run: &Run, phase: Phase) -> PhaseStats {
    let scenario = &run.scenario;
    let in_phase: Vec<&Record> = run
        .records
        .iter()
        .filter(|r| scenario.phase_after(r.sent) == phase)
        .collect();
    let (greedy, regular): (Vec<&Record>, Vec<&Record>) = in_phase.iter().partition(|r| r.greedy);
    let mut latencies: Vec<Duration> = regular.iter().map(|r| r.latency).collect();
    let (from, to) = span(scenario, phase);
    let counters = &run.counters;
    PhaseStats {
        phase,
        all: Share::of(regular.iter().copied()),
        critical: Share::of(regular.iter().copied().filter(|r| r.critical)),
        sheddable: Share::of(regular.iter().copied().filter(|r| !r.critical)),
        greedy: Share::of(greedy.iter().copied()),
        p50: quantile(&mut latencies, 0.50),
        p99: quantile(&mut latencies, 0.99),
        b_hits: Counters::count(&counters.b_hits, from, to),
        c_hits: Counters::count(&counters.c_hits, from, to),
        fallbacks: counters.fallbacks(from, to),
        rejections: counters.rejections(from, to),
        recovery: phase
            .is_recovery()
            .then(|| recovery(scenario, phase, &regular)),
    }
}

/// The earliest moment, on a 50 ms grid, after which the requests of
/// the next [`CLEAN`] all succeeded and at least [`RECOVERED`] % of the
/// phase's remaining ones (ten at least) did.
fn recovery(scenario: &Scenario, phase: Phase, records: &[&Record]) -> Recovery {
    let start = scenario.phase_start(phase);
    let step = Duration::from_millis(50);
    let mut after = Duration::ZERO;
    while start + after < scenario.phase_end(phase) {
        let from = start + after;
        let rest: Vec<&Record> = records.iter().copied().filter(|r| r.sent >= from).collect();
        if rest.len() < 10 {
            break;
        }
        let clean = rest.iter().all(|r| r.sent >= from + CLEAN || r.ok());
        let success = Share::of(rest).success;
        if clean && success >= RECOVERED {
            return Recovery {
                after: Some(after),
                success_after: success,
            };
        }
        after += step;
    }
    Recovery {
        after: None,
        success_after: 0.0,
    }
}

/// One bucket of a run's time series.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// The bucket's middle, from the scenario's start, in seconds.
    pub t: f64,
    pub all: Share,
    pub critical: Share,
    pub sheddable: Share,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Calls reaching B's handler and C, per second.
    pub b_rate: f64,
    pub c_rate: f64,
}

/// The run in `step` buckets, by the time requests were sent (regular
/// callers only, as in the table).
pub fn series(run: &Run, step: Duration) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut from = Duration::ZERO;
    while from < run.scenario.length() {
        let to = from + step;
        let bucket: Vec<&Record> = run
            .records
            .iter()
            .filter(|r| !r.greedy && r.sent >= from && r.sent < to)
            .collect();
        let mut latencies: Vec<Duration> = bucket.iter().map(|r| r.latency).collect();
        let per_second = |hits| hits as f64 / step.as_secs_f64();
        out.push(Bucket {
            t: (from + step / 2).as_secs_f64(),
            all: Share::of(bucket.iter().copied()),
            critical: Share::of(bucket.iter().copied().filter(|r| r.critical)),
            sheddable: Share::of(bucket.iter().copied().filter(|r| !r.critical)),
            p50_ms: quantile(&mut latencies, 0.50).as_secs_f64() * 1000.0,
            p99_ms: quantile(&mut latencies, 0.99).as_secs_f64() * 1000.0,
            b_rate: per_second(Counters::count(&run.counters.b_hits, from, to)),
            c_rate: per_second(Counters::count(&run.counters.c_hits, from, to)),
        });
        from = to;
    }
    out
}
