//! The side-by-side summary per phase, as text, and a one-line verdict
//! per phase, written from the numbers.

use std::fmt::Write as _;
use std::time::Duration;

use super::config;
use super::scenario::{Phase, Settings};
use super::stats::{PhaseStats, RECOVERED, Share};

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn recovered(stats: &PhaseStats) -> String {
    match stats.recovery {
        None => String::new(),
        Some(r) => match r.after {
            Some(d) => format!("{:.2}s", d.as_secs_f64()),
            None => "never".into(),
        },
    }
}

/// `success` and the largest other part of `share`, as `31.2 % success
/// + 68.8 % refused`.
fn split(share: &Share) -> String {
    let parts = [
        ("degraded", share.degraded),
        ("refused", share.refused),
        ("failed", share.failed),
    ];
    let (name, value) = parts
        .into_iter()
        .fold(("failed", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    if value < 0.05 {
        format!("{:.1} % success", share.success)
    } else {
        format!("{:.1} % success + {value:.1} % {name}", share.success)
    }
}

/// The summary: the table, what it counts, the spike and the greedy
/// caller by class, the refusals by layer, and the verdicts.
pub fn text(settings: &Settings, naive: &[PhaseStats], buttress: &[PhaseStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<8} {:>7} {:>8} {:>7} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9}",
        "phase",
        "run",
        "success",
        "degraded",
        "refused",
        "failed",
        "p50 ms",
        "p99 ms",
        "reached B",
        "reached C",
        "recovered"
    );
    let _ = writeln!(out, "{}", "-".repeat(98));
    for (n, b) in naive.iter().zip(buttress) {
        for (label, s) in [(n.phase.label(), n), ("", b)] {
            let run = if label.is_empty() {
                "buttress"
            } else {
                "naive"
            };
            let _ = writeln!(
                out,
                "{:<10} {:<8} {:>7.1} {:>8.1} {:>7.1} {:>6.1} {:>6} {:>6} {:>9} {:>9} {:>9}",
                label,
                run,
                s.all.success,
                s.all.degraded,
                s.all.refused,
                s.all.failed,
                ms(s.p50),
                ms(s.p99),
                s.b_hits,
                s.c_hits,
                recovered(s),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "% of the regular callers' requests. success: the full answer; degraded: B answered without\n\
         C's part (its fallback), never a success; refused: 503 or 429 with Retry-After, at once;\n\
         failed: anything else, timeouts ({} s) included. A phase counts the requests sent in it (the\n\
         last few meet the next phase at C). recovered: from then on, a quarter second without a miss\n\
         and ≥ {RECOVERED:.0} % success to the phase's end.",
        settings.client_timeout.as_secs_f64()
    );
    let _ = writeln!(out);
    let (n, b) = (
        &naive[Phase::Spike.index()],
        &buttress[Phase::Spike.index()],
    );
    let _ = writeln!(
        out,
        "spike:  critical   {} buttress, {} naive\n        sheddable  {} buttress, {} naive",
        split(&b.critical),
        split(&n.critical),
        split(&b.sheddable),
        split(&n.sheddable)
    );
    let (n, b) = (
        &naive[Phase::Greedy.index()],
        &buttress[Phase::Greedy.index()],
    );
    let _ = writeln!(
        out,
        "greedy: the greedy caller ({:.0} req/s): {} buttress, {} naive",
        settings.rate * settings.greedy,
        split(&b.greedy),
        split(&n.greedy)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Buttress refusals by layer and reason, and fallback answers (naive has neither):"
    );
    for b in buttress {
        let refusals: Vec<String> = b
            .rejections
            .iter()
            .map(|(layer, reason, n)| format!("{layer} {} {n}", reason.as_str()))
            .collect();
        let refusals = if refusals.is_empty() {
            "-".to_string()
        } else {
            refusals.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<10} {refusals}; fallbacks {}",
            b.phase.label(),
            b.fallbacks
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Verdict per phase:");
    for (phase, verdict) in verdicts(naive, buttress) {
        let _ = writeln!(out, "  {:<10} {verdict}", phase.label());
    }
    out
}

/// One line per phase saying what Buttress changed, from the numbers.
pub fn verdicts(naive: &[PhaseStats], buttress: &[PhaseStats]) -> Vec<(Phase, String)> {
    naive
        .iter()
        .zip(buttress)
        .map(|(n, b)| (n.phase, verdict(n, b)))
        .collect()
}

fn verdict(n: &PhaseStats, b: &PhaseStats) -> String {
    let share = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
    let back = |s: &PhaseStats| match s.recovery.and_then(|r| r.after) {
        Some(d) if d.is_zero() => "at once".to_string(),
        Some(d) => format!("after {:.2} s", d.as_secs_f64()),
        None => format!("never back to {RECOVERED:.0} %"),
    };
    match n.phase {
        Phase::Normal => format!(
            "even: {:.1} % success buttress, {:.1} % naive; p99 {} ms against {} ms",
            b.all.success,
            n.all.success,
            ms(b.p99),
            ms(n.p99)
        ),
        Phase::CFails => format!(
            "C is spared: it gets {} calls against naive's {} ({:.1} %), while callers get the same degraded answers (p99 {} ms)",
            b.c_hits,
            n.c_hits,
            share(b.c_hits, n.c_hits),
            ms(b.p99)
        ),
        Phase::CSlow => format!(
            "answers stay fast, degraded: p99 {} ms against naive's {} ms ({:.1} % of naive's callers time out); C gets {} calls against {}",
            ms(b.p99),
            ms(n.p99),
            n.all.failed,
            b.c_hits,
            n.c_hits
        ),
        Phase::CRecovers => format!(
            "full answers come back {} (B's breaker waits {} s, then probes C); naive {}",
            back(b),
            config::b().breaker_wait().as_secs_f64(),
            back(n)
        ),
        Phase::BFails => format!(
            "{:.1} % refused at once with 503 + Retry-After (p99 {} ms) where naive fails {:.1} % (p99 {} ms); B gets {} calls against {}",
            b.all.refused,
            ms(b.p99),
            n.all.failed,
            ms(n.p99),
            b.b_hits,
            n.b_hits
        ),
        Phase::BRecovers => format!(
            "success is back over {RECOVERED:.0} % {} (A's breaker waits {} s, then probes B); naive {}",
            back(b),
            config::a().breaker_wait().as_secs_f64(),
            back(n)
        ),
        Phase::Greedy => format!(
            "the rate limit refuses {:.1} % of the greedy caller's requests with 429; the others keep {:.1} % success, p99 {} ms (naive: {:.1} %, p99 {} ms)",
            b.greedy.refused,
            b.all.success,
            ms(b.p99),
            n.all.success,
            ms(n.p99)
        ),
        Phase::Spike => format!(
            "shedding keeps {:.1} % of critical requests (naive {:.1} %) and refuses {:.1} % of sheddable ones at once with 503 + Retry-After",
            b.critical.success, n.critical.success, b.sheddable.refused
        ),
    }
}
