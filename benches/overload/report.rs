//! What the overload bench prints: a line per phase as it ends, then a
//! Markdown table and the verdict on the target per configuration.

use std::time::Duration;

use crate::load::latency::{Percentiles, ms};
use crate::open_loop::{ClassOutcome, Outcome, Phase};
use crate::protection::Protection;
use crate::slow_handler::Capacity;

/// The target at 4× overload: goodput at least this share of capacity…
const GOODPUT_TARGET: f64 = 0.90;
/// …with admitted requests' p99 at most this multiple of the unloaded p99.
const P99_TARGET: f64 = 3.0;

/// One phase's figures.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    protection: Protection,
    load: f64,
    offered_per_sec: f64,
    goodput_per_sec: f64,
    /// Goodput over the nominal capacity (slots ÷ work).
    share_of_nominal: f64,
    /// Goodput over the capacity the server had in this phase (slots ÷
    /// the mean time a slot was held): tokio's millisecond timer makes a
    /// sleep last up to ~1 ms longer than asked, more when the cores are
    /// busy.
    share_of_measured: f64,
    rejected: u64,
    timed_out: u64,
    unsent: u64,
    late: u64,
    other: u64,
    latency: Percentiles,
    /// `None` when no request sent after the first second was admitted.
    steady: Option<Percentiles>,
    /// The adaptive limit over the phase (min, mean, max), if there is one.
    limit: Option<(usize, f64, usize)>,
    /// Per class of the criticality mix: its `x-criticality` and how it
    /// fared.
    classes: Vec<(&'static str, ClassOutcome)>,
}

impl Row {
    pub(crate) fn new(
        protection: Protection,
        load: f64,
        phase: Phase,
        capacity: Capacity,
        mut outcome: Outcome,
        limit_samples: &[usize],
        mean_hold: Option<Duration>,
    ) -> Row {
        let secs = phase.duration.as_secs_f64();
        let goodput_per_sec = outcome.ok_within_phase as f64 / secs;
        let measured_capacity = mean_hold
            .map(|hold| capacity.slots as f64 / hold.as_secs_f64())
            .unwrap_or(capacity.per_sec());
        let limit = (!limit_samples.is_empty()).then(|| {
            let min = *limit_samples.iter().min().expect("not empty");
            let max = *limit_samples.iter().max().expect("not empty");
            let mean = limit_samples.iter().sum::<usize>() as f64 / limit_samples.len() as f64;
            (min, mean, max)
        });
        let row = Row {
            protection,
            load,
            offered_per_sec: outcome.offered as f64 / secs,
            goodput_per_sec,
            share_of_nominal: goodput_per_sec / capacity.per_sec(),
            share_of_measured: goodput_per_sec / measured_capacity,
            rejected: outcome.rejected,
            timed_out: outcome.timed_out,
            unsent: outcome.unsent,
            late: outcome.late,
            other: outcome.other_status + outcome.failed,
            latency: Percentiles::of(&mut outcome.ok_latencies),
            steady: (!outcome.ok_latencies_steady.is_empty())
                .then(|| Percentiles::of(&mut outcome.ok_latencies_steady)),
            limit,
            classes: phase
                .mix
                .iter()
                .map(|(level, _)| level.to_str().unwrap_or("?"))
                .zip(outcome.classes.iter().copied())
                .collect(),
        };
        println!(
            "{:<18} {:>4}×: offered {:>5.0}/s, goodput {:>5.0}/s ({:>3.0} % of nominal, {:>3.0} % of measured capacity {:.0}/s), \
             503 {}, timeouts {}, unsent {}, late {}, other {}; admitted p50 {} ms, p99 {} ms, after 1 s p99 {} ms{}",
            protection.name(),
            load,
            row.offered_per_sec,
            row.goodput_per_sec,
            100.0 * row.share_of_nominal,
            100.0 * row.share_of_measured,
            measured_capacity,
            row.rejected,
            row.timed_out,
            row.unsent,
            row.late,
            row.other,
            ms(row.latency.p50),
            ms(row.latency.p99),
            row.steady_p99(),
            row.limit
                .map(|(min, mean, max)| format!("; limit {mean:.0} ({min}–{max})"))
                .unwrap_or_default(),
        );
        for (level, class) in &row.classes {
            println!("    {level:>14}: {}", answered(class));
        }
        row
    }

    /// The steady-state p99 in ms, or "—" when nothing was admitted then
    /// (every request left to time out).
    fn steady_p99(&self) -> String {
        self.steady
            .map(|steady| ms(steady.p99))
            .unwrap_or_else(|| "—".to_owned())
    }
}

/// Prints the table of every phase, then whether each configuration
/// meets the target at its heaviest load. The unloaded p99 is the median
/// over the configurations of their p99 at the lightest load: at that
/// load no protection acts, so they differ only by noise, and one
/// configuration's unlucky baseline should not excuse its p99.
pub(crate) fn summary(rows: &[Row]) {
    let Some(lightest) = rows.iter().map(|r| r.load).reduce(f64::min) else {
        return;
    };
    let mut unloaded: Vec<Duration> = rows
        .iter()
        .filter(|r| r.load == lightest)
        .map(|r| r.latency.p99)
        .collect();
    unloaded.sort_unstable();
    let unloaded = unloaded[unloaded.len() / 2];

    println!(
        "\nUnloaded p99 (median of the configurations' at {lightest}×): {} ms\n",
        ms(unloaded)
    );
    println!(
        "| protection | load | offered/s | goodput/s | % of nominal capacity | % of measured capacity | 503s | client timeouts | not sent | admitted p50 ms | admitted p99 ms | p99 ÷ unloaded | p99 after 1st s, ms | adaptive limit mean (min–max) |"
    );
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for row in rows {
        let limit = row
            .limit
            .map(|(min, mean, max)| format!("{mean:.0} ({min}–{max})"))
            .unwrap_or_else(|| "—".to_owned());
        println!(
            "| {} | {}× | {:.0} | {:.0} | {:.1} % | {:.1} % | {} | {} | {} | {} | {} | {:.1} | {} | {limit} |",
            row.protection.name(),
            row.load,
            row.offered_per_sec,
            row.goodput_per_sec,
            100.0 * row.share_of_nominal,
            100.0 * row.share_of_measured,
            row.rejected,
            row.timed_out,
            row.unsent,
            ms(row.latency.p50),
            ms(row.latency.p99),
            ratio(row.latency.p99, unloaded),
            row.steady_p99(),
        );
    }
    for row in rows.iter().filter(|r| !r.classes.is_empty()) {
        println!(
            "\n{} at {}×, by criticality:",
            row.protection.name(),
            row.load
        );
        for (level, class) in &row.classes {
            println!("- {level}: {}", answered(class));
        }
    }
    let late: u64 = rows.iter().map(|r| r.late).sum();
    if late > 0 {
        println!(
            "\n{late} requests were sent more than 5 ms behind schedule (the generator shares the cores); \
             per-phase counts above."
        );
    }

    println!();
    for protection in Protection::ALL {
        let Some(heaviest) = rows
            .iter()
            .filter(|r| r.protection == protection)
            .max_by(|a, b| a.load.total_cmp(&b.load))
        else {
            continue;
        };
        let p99_ratio = ratio(heaviest.latency.p99, unloaded);
        let holds = heaviest.share_of_measured >= GOODPUT_TARGET && p99_ratio <= P99_TARGET;
        println!(
            "{}: at {}× goodput {:.1} % of measured capacity ({:.1} % of nominal; target ≥ {:.0} %), \
             admitted p99 {} ms = {:.1}× unloaded (target ≤ {P99_TARGET}×): {}",
            protection.name(),
            heaviest.load,
            100.0 * heaviest.share_of_measured,
            100.0 * heaviest.share_of_nominal,
            100.0 * GOODPUT_TARGET,
            ms(heaviest.latency.p99),
            p99_ratio,
            if holds { "holds" } else { "does not hold" },
        );
    }
}

/// A class's share answered 200, over the phase and after its first
/// second.
fn answered(class: &ClassOutcome) -> String {
    let share = |ok, offered| 100.0 * ok as f64 / offered as f64;
    format!(
        "{} of {} answered 200 ({:.2} %); after the first second {:.2} % of {}",
        class.ok,
        class.offered,
        share(class.ok, class.offered),
        share(class.ok_steady, class.offered_steady),
        class.offered_steady,
    )
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
