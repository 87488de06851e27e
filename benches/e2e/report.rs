//! What the end-to-end bench prints: a line per round, then Markdown
//! tables of the medians and of the server CPU each stack adds.

use std::time::Duration;

use crate::closed_loop::Round;
use crate::load::latency::{Percentiles, ms};
use crate::servers::Kind;
use crate::thread_cpu::CpuTime;

/// The figures kept from one round (its latencies are dropped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    requests_per_sec: f64,
    latency: Percentiles,
    user_us: f64,
    system_us: f64,
    on_cpu_us: f64,
    /// For the pooled figures: requests and the server's CPU time.
    answers: u64,
    cpu: CpuTime,
}

/// Prints one round's line and keeps its figures.
pub(crate) fn round(number: usize, kind: Kind, mut round: Round) -> Figures {
    let figures = Figures {
        requests_per_sec: round.requests_per_sec(),
        latency: Percentiles::of(&mut round.latencies),
        user_us: round.user_us_per_request(),
        system_us: round.system_us_per_request(),
        on_cpu_us: round.on_cpu_us_per_request(),
        answers: round.answers,
        cpu: round.server_cpu,
    };
    let failures = match round.failures {
        0 => String::new(),
        n => format!(", {n} answers not 200"),
    };
    println!(
        "round {number} {:<5}: {:>6.0} req/s, p50 {} ms, p99 {} ms; server µs/req: user {:.3}, system {:.3}, on-CPU {:.3}; server busy {:.0} %{failures}",
        kind.name(),
        figures.requests_per_sec,
        ms(figures.latency.p50),
        ms(figures.latency.p99),
        figures.user_us,
        figures.system_us,
        figures.on_cpu_us,
        100.0 * round.server_busy(),
    );
    figures
}

/// Prints the medians per server and, per round, the CPU time per request
/// each stack adds over the bare server measured beside it. `rounds[i]`
/// holds round `i`'s figures in [`Kind::ALL`] order.
pub(crate) fn summary(rounds: &[[Figures; 3]]) {
    println!("\nMedians over {} rounds:\n", rounds.len());
    println!(
        "| server | req/s | p50 ms | p99 ms | server user µs/req | server system µs/req | server on-CPU µs/req |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (index, kind) in Kind::ALL.iter().enumerate() {
        let of = |figure: fn(&Figures) -> f64| {
            median(&rounds.iter().map(|r| figure(&r[index])).collect::<Vec<_>>())
        };
        let millis = |secs: f64| ms(Duration::from_secs_f64(secs));
        println!(
            "| {} | {:.0} | {} | {} | {:.3} | {:.3} | {:.3} |",
            kind.name(),
            of(|f| f.requests_per_sec),
            millis(of(|f| f.latency.p50.as_secs_f64())),
            millis(of(|f| f.latency.p99.as_secs_f64())),
            of(|f| f.user_us),
            of(|f| f.system_us),
            of(|f| f.on_cpu_us),
        );
    }

    let (user, user_pooled) = added(rounds, "user", |f| f.user_us, |cpu| cpu.user);
    added(
        rounds,
        "on-CPU (user + system, exact)",
        |f| f.on_cpu_us,
        |cpu| cpu.on_cpu,
    );
    let verdict = if user.max(user_pooled) <= 0.7 {
        "met"
    } else {
        "missed"
    };
    println!(
        "\nTarget: the stack adds ≤ 0.7 µs of server user CPU per request over bare: {verdict} \
         ({user:+.3} µs median of the round pairs, {user_pooled:+.3} µs pooled)."
    );
}

/// Prints a table of `figure` per round with what each stack adds over
/// bare in the same round, their medians, and the pooled figures (all
/// rounds' CPU time over all their requests: the tick-sampled user time
/// is steadiest pooled). Returns the stack's median and pooled additions.
fn added(
    rounds: &[[Figures; 3]],
    what: &str,
    figure: fn(&Figures) -> f64,
    time: fn(&CpuTime) -> Duration,
) -> (f64, f64) {
    println!(
        "\nServer {what} CPU µs per request, and what each stack adds over bare in the same round:\n"
    );
    println!("| round | bare | stack | tower | stack − bare | tower − bare |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut stack_added = Vec::new();
    let mut tower_added = Vec::new();
    for (number, [bare, stack, tower]) in rounds.iter().enumerate() {
        let (bare, stack, tower) = (figure(bare), figure(stack), figure(tower));
        stack_added.push(stack - bare);
        tower_added.push(tower - bare);
        println!(
            "| {} | {bare:.3} | {stack:.3} | {tower:.3} | {:+.3} | {:+.3} |",
            number + 1,
            stack - bare,
            tower - bare,
        );
    }
    let stack_median = median(&stack_added);
    println!(
        "| median | | | | {stack_median:+.3} | {:+.3} |",
        median(&tower_added)
    );
    let pooled = |index: usize| {
        let time: Duration = rounds.iter().map(|r| time(&r[index].cpu)).sum();
        let answers: u64 = rounds.iter().map(|r| r[index].answers).sum();
        time.as_secs_f64() * 1e6 / answers as f64
    };
    let (bare, stack, tower) = (pooled(0), pooled(1), pooled(2));
    println!(
        "| pooled | {bare:.3} | {stack:.3} | {tower:.3} | {:+.3} | {:+.3} |",
        stack - bare,
        tower - bare
    );
    (stack_median, stack - bare)
}

/// The median of `values` (the mean of the middle two for an even count);
/// zero for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
