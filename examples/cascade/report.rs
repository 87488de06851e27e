//! The side-by-side summary per phase, and the HTML report.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use buttress::Reason;

use super::load::{Record, quantile};
use super::scenario::{Phase, Scenario};
use super::{Run, sink};

/// One phase of one run, summed up.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub phase: Phase,
    pub requests: usize,
    /// Answered 200 (a degraded answer counts).
    pub success: f64,
    /// Of the critical requests.
    pub critical_success: f64,
    /// Answered 200 with C's part.
    pub full: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Of the failed answers, the share that came as 503 with Retry-After.
    pub refused_with_hint: f64,
    pub failed: usize,
    pub c_hits: u64,
    pub b_hits: u64,
    pub fallbacks: u64,
    pub rejections: Vec<(Reason, u64)>,
    /// From the phase's start to the first quarter second with ≥ 95 %
    /// full answers (recovery phases only).
    pub recover: Option<Duration>,
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        100.0 * part as f64 / whole as f64
    }
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
    let records: Vec<&Record> = run
        .records
        .iter()
        .filter(|r| scenario.phase_after(r.sent) == phase)
        .collect();
    let ok = records.iter().filter(|r| r.ok()).count();
    let critical: Vec<_> = records.iter().filter(|r| r.critical).collect();
    let failed: Vec<_> = records.iter().filter(|r| !r.ok()).collect();
    let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
    let i = phase.index();
    let counters = &run.counters;
    let rejections = Reason::ALL
        .iter()
        .map(|&reason| {
            (
                reason,
                counters.rejections[i][sink::reason_index(reason)].load(Ordering::Relaxed),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    PhaseStats {
        phase,
        requests: records.len(),
        success: share(ok, records.len()),
        critical_success: share(critical.iter().filter(|r| r.ok()).count(), critical.len()),
        full: share(records.iter().filter(|r| r.full()).count(), records.len()),
        p50: quantile(&mut latencies, 0.50),
        p99: quantile(&mut latencies, 0.99),
        refused_with_hint: share(
            failed
                .iter()
                .filter(|r| r.status == 503 && r.retry_after)
                .count(),
            failed.len(),
        ),
        failed: failed.len(),
        c_hits: counters.c_hits[i].load(Ordering::Relaxed),
        b_hits: counters.b_hits[i].load(Ordering::Relaxed),
        fallbacks: counters.fallbacks[i].load(Ordering::Relaxed),
        rejections,
        recover: phase
            .is_recovery()
            .then(|| recover_time(scenario, phase, &records))
            .flatten(),
    }
}

fn recover_time(scenario: &Scenario, phase: Phase, records: &[&Record]) -> Option<Duration> {
    let start = scenario.phase_start(phase);
    let quarter = Duration::from_millis(250);
    let mut from = start;
    while from < scenario.ends[phase.index()] {
        let bucket: Vec<_> = records
            .iter()
            .filter(|r| r.sent >= from && r.sent < from + quarter)
            .collect();
        if !bucket.is_empty()
            && share(bucket.iter().filter(|r| r.full()).count(), bucket.len()) >= 95.0
        {
            return Some(from - start);
        }
        from += quarter;
    }
    None
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn reasons(stats: &PhaseStats) -> String {
    if stats.rejections.is_empty() {
        return "-".into();
    }
    stats
        .rejections
        .iter()
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The side-by-side table, as text.
pub fn summary_text(naive: &[PhaseStats], buttress: &[PhaseStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11}| {:>16} | {:>15} | {:>15} | {:>13} | {:>13}",
        "phase", "success %", "p50 ms", "p99 ms", "reached C", "recover"
    );
    let _ = writeln!(
        out,
        "{:<11}| {:>7} {:>8} | {:>6} {:>8} | {:>6} {:>8} | {:>5} {:>7} | {:>5} {:>7}",
        "",
        "naive",
        "buttress",
        "naive",
        "buttress",
        "naive",
        "buttress",
        "naive",
        "buttr.",
        "naive",
        "buttr."
    );
    let _ = writeln!(out, "{}", "-".repeat(86));
    let recover = |s: &PhaseStats| match (s.phase.is_recovery(), s.recover) {
        (false, _) => "".to_string(),
        (true, Some(d)) => format!("{:.2}s", d.as_secs_f64()),
        (true, None) => "never".to_string(),
    };
    for (n, b) in naive.iter().zip(buttress) {
        let _ = writeln!(
            out,
            "{:<11}| {:>7.1} {:>8.1} | {:>6} {:>8} | {:>6} {:>8} | {:>5} {:>7} | {:>5} {:>7}",
            n.phase.label(),
            n.success,
            b.success,
            ms(n.p50),
            ms(b.p50),
            ms(n.p99),
            ms(b.p99),
            n.c_hits,
            b.c_hits,
            recover(n),
            recover(b),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Buttress rejections by reason, and fallbacks served (naive has none):"
    );
    for b in buttress {
        let _ = writeln!(
            out,
            "  {:<11} {} | fallbacks {}",
            b.phase.label(),
            reasons(b),
            b.fallbacks
        );
    }
    let spike = (
        &naive[Phase::Spike.index()],
        &buttress[Phase::Spike.index()],
    );
    let b_fail = (
        &naive[Phase::BFails.index()],
        &buttress[Phase::BFails.index()],
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "3x spike: critical requests answered {:.1} % naive, {:.1} % buttress",
        spike.0.critical_success, spike.1.critical_success
    );
    let _ = writeln!(
        out,
        "B fails:  failures answered 503 + Retry-After {:.0} % naive, {:.0} % buttress; B's handler saw {} naive, {} buttress",
        b_fail.0.refused_with_hint, b_fail.1.refused_with_hint, b_fail.0.b_hits, b_fail.1.b_hits
    );
    out
}

/// Success rate and p99 per half second, for the charts.
fn series(run: &Run) -> Vec<(f64, f64, f64)> {
    let step = Duration::from_millis(500);
    let mut out = Vec::new();
    let mut from = Duration::ZERO;
    while from < run.scenario.length() {
        let bucket: Vec<_> = run
            .records
            .iter()
            .filter(|r| r.sent >= from && r.sent < from + step)
            .collect();
        if !bucket.is_empty() {
            let ok = bucket.iter().filter(|r| r.ok()).count();
            let mut latencies: Vec<_> = bucket.iter().map(|r| r.latency).collect();
            out.push((
                (from + step / 2).as_secs_f64(),
                share(ok, bucket.len()),
                quantile(&mut latencies, 0.99).as_secs_f64() * 1000.0,
            ));
        }
        from += step;
    }
    out
}

fn chart(
    title: &str,
    unit: &str,
    naive: &[(f64, f64)],
    buttress: &[(f64, f64)],
    scenario: &Scenario,
    y_max: f64,
) -> String {
    let (w, h, left, top, bottom) = (900.0, 260.0, 60.0, 30.0, 40.0);
    let x_max = scenario.length().as_secs_f64();
    let x = |t: f64| left + (w - left - 20.0) * t / x_max;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v.min(y_max) / y_max);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{left}" y="18" font-size="14" font-weight="bold">{title}</text>"#
    );
    for (i, phase) in Phase::ALL.iter().enumerate() {
        let (a, b) = (
            scenario.phase_start(*phase).as_secs_f64(),
            scenario.ends[i].as_secs_f64(),
        );
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#e8e8e8" };
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{top}" width="{:.1}" height="{:.1}" fill="{fill}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(a),
            x(b) - x(a),
            h - top - bottom,
            (x(a) + x(b)) / 2.0,
            h - bottom + 14.0,
            phase.label()
        );
    }
    for frac in [0.0, 0.5, 1.0] {
        let v = y_max * frac;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#bbb"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}{unit}</text>"##,
            w - 20.0,
            y(v),
            y(v),
            left - 4.0,
            y(v) + 4.0
        );
    }
    for (points, color, name, dy) in [
        (naive, "#d62728", "naive", 0.0),
        (buttress, "#2ca02c", "buttress", 14.0),
    ] {
        let path: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/><text x="{:.1}" y="{:.1}" fill="{color}">{name}</text>"#,
            path.join(" "),
            w - 90.0,
            top + 12.0 + dy
        );
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained HTML page: the charts and the summary.
pub fn html(naive: &Run, buttress: &Run, summary: &str) -> String {
    let (n, b) = (series(naive), series(buttress));
    let pick = |s: &[(f64, f64, f64)], success: bool| -> Vec<(f64, f64)> {
        s.iter()
            .map(|(t, ok, p99)| (*t, if success { *ok } else { *p99 }))
            .collect()
    };
    let p99_max = n
        .iter()
        .chain(&b)
        .map(|p| p.2)
        .fold(100.0_f64, f64::max)
        .ceil();
    let scenario = &buttress.scenario;
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Buttress cascade demo</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}pre{{background:#f8f8f8;padding:1em;overflow-x:auto}}</style></head><body>
<h1>Cascade demo: naive calls vs Buttress stacks</h1>
<p>Three services A → B → C on 127.0.0.1. B needs C for part of its answer only. Each point is half a second of requests, by the time they were sent.</p>
{}
{}
<h2>Summary per phase</h2><pre>{}</pre></body></html>"#,
        chart(
            "Client success rate",
            "%",
            &pick(&n, true),
            &pick(&b, true),
            scenario,
            100.0
        ),
        chart(
            "Client p99 latency",
            "ms",
            &pick(&n, false),
            &pick(&b, false),
            scenario,
            p99_max
        ),
        escape(summary)
    )
}
