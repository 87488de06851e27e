//! The report's charts, built from both runs: every one on the scenario's
//! time axis, naive in red and Buttress in green.

use std::time::Duration;

use super::Run;
use super::chart::{self, Frame, Key, Panel, Row, Scale, Series};
use super::counters::What;
use super::scenario::{Phase, Scenario};
use super::stats::{Bucket, Share, series};

const NAIVE: &str = "#d62728";
const BUTTRESS: &str = "#2ca02c";
const STEP: Duration = Duration::from_millis(500);

fn phases(scenario: &Scenario) -> Vec<(&'static str, f64, f64)> {
    Phase::ALL
        .iter()
        .map(|p| {
            (
                p.label(),
                scenario.phase_start(*p).as_secs_f64(),
                scenario.phase_end(*p).as_secs_f64(),
            )
        })
        .collect()
}

fn frame(scenario: &Scenario, title: &str, y_label: &str, height: f64) -> Frame {
    Frame {
        title: title.into(),
        y_label: y_label.into(),
        x_max: scenario.length().as_secs_f64(),
        height,
    }
}

/// What the regular callers got every half second, one panel per run:
/// the chart the README shows.
pub fn outcomes(naive: &Run, buttress: &Run) -> String {
    let keys = [
        ("success (full answer)", BUTTRESS),
        ("degraded (without C's part)", "#f2c744"),
        ("refused at once (Retry-After)", "#1f77b4"),
        ("failed or timed out", NAIVE),
    ]
    .map(|(name, color)| Key {
        name: name.into(),
        color,
        dashed: None,
    });
    let panel = |run: &Run| Panel {
        label: run.mode.label().into(),
        bars: series(run, STEP)
            .iter()
            .filter(|b| b.all.requests > 0)
            .map(|b| {
                let half = STEP.as_secs_f64() / 2.0;
                let Share {
                    success,
                    degraded,
                    refused,
                    failed,
                    ..
                } = b.all;
                (
                    b.t - half,
                    b.t + half,
                    vec![success, degraded, refused, failed],
                )
            })
            .collect(),
    };
    let scenario = &buttress.scenario;
    chart::stacked(
        &frame(
            scenario,
            "What the callers got, every half second: naive calls vs Buttress stacks",
            "",
            150.0,
        ),
        &phases(scenario),
        &keys,
        &[panel(naive), panel(buttress)],
    )
}

/// Both runs' value of `pick` per half second, as series.
fn both(
    naive: &[Bucket],
    buttress: &[Bucket],
    what: &str,
    dashed: bool,
    pick: impl Fn(&Bucket) -> Option<f64>,
) -> [Series; 2] {
    let points = |run: &[Bucket]| run.iter().map(|b| (b.t, pick(b))).collect();
    [
        Series {
            name: format!("naive {what}"),
            color: NAIVE,
            dashed,
            points: points(naive),
        },
        Series {
            name: format!("buttress {what}"),
            color: BUTTRESS,
            dashed,
            points: points(buttress),
        },
    ]
}

fn success_of(share: &Share) -> Option<f64> {
    (share.requests > 0).then_some(share.success)
}

/// Each layer's states as bands: `(from, to, state)` in seconds.
fn states(
    run: &Run,
    layer: &str,
    first: &str,
    name: impl Fn(&str) -> String,
) -> Vec<(f64, f64, String)> {
    let end = run.scenario.length().as_secs_f64();
    let mut bands: Vec<(f64, f64, String)> = vec![(0.0, end, name(first))];
    for mark in run.counters.marks().iter().filter(|m| &*m.layer == layer) {
        let What::State(state) = mark.what else {
            continue;
        };
        let (at, state) = (mark.at.as_secs_f64().min(end), name(state));
        let last = bands.last_mut().expect("never empty");
        if last.2 == state {
            continue;
        }
        last.1 = at;
        bands.push((at, end, state));
    }
    bands
}

fn shedder_state(level: &str) -> String {
    match level {
        "none" => "not shedding".into(),
        "sheddable" => "shedding sheddable".into(),
        _ => "shedding more".into(),
    }
}

fn layer_bands(run: &Run) -> String {
    let keys = [
        ("closed", BUTTRESS),
        ("half_open", "#ff9f1c"),
        ("open", NAIVE),
        ("not shedding", "#c7e9c0"),
        ("shedding sheddable", "#9467bd"),
        ("shedding more", "#4a1486"),
    ]
    .map(|(name, color)| Key {
        name: name.into(),
        color,
        dashed: None,
    });
    let row = |label: &str, bands| Row {
        label: label.into(),
        bands,
    };
    let rows = [
        row(
            "A→B breaker",
            states(run, "breaker/b", "closed", str::to_owned),
        ),
        row(
            "B→C breaker",
            states(run, "breaker/c", "closed", str::to_owned),
        ),
        row("B's shedder", states(run, "shed/b", "none", shedder_state)),
    ];
    let scenario = &run.scenario;
    chart::bands(
        &frame(
            scenario,
            "Breakers and shedder in the Buttress run",
            "layer",
            96.0,
        ),
        &phases(scenario),
        &keys,
        &rows,
    )
}

/// Every chart of the report, with its caption, in the order shown.
pub fn all(naive: &Run, buttress: &Run) -> Vec<(String, &'static str)> {
    let scenario = &buttress.scenario;
    let phases = phases(scenario);
    let (ns, bs) = (series(naive, STEP), series(buttress, STEP));
    let mut classes = Vec::new();
    classes.extend(both(&ns, &bs, "critical", false, |b| {
        success_of(&b.critical)
    }));
    classes.extend(both(&ns, &bs, "sheddable", true, |b| {
        success_of(&b.sheddable)
    }));
    let mut latency = Vec::new();
    let present = |b: &Bucket, v: f64| (b.all.requests > 0).then_some(v);
    latency.extend(both(&ns, &bs, "p99", false, |b| present(b, b.p99_ms)));
    latency.extend(both(&ns, &bs, "p50", true, |b| present(b, b.p50_ms)));
    let load_max = |pick: fn(&Bucket) -> f64| {
        let max = ns.iter().chain(&bs).map(pick).fold(10.0, f64::max);
        (max / 100.0).ceil() * 100.0
    };
    vec![
        (
            outcomes(naive, buttress),
            "Each bar is the regular callers' requests sent in that half second (the greedy caller's are left out, as in the table).",
        ),
        (
            layer_bands(buttress),
            "When each breaker was closed, open or probing (half-open), and when B's shedder refused sheddable work.",
        ),
        (
            chart::lines(
                &frame(
                    scenario,
                    "Success of critical and sheddable requests",
                    "% full answers",
                    180.0,
                ),
                &phases,
                Scale::Linear { max: 100.0 },
                "",
                &classes,
            ),
            "Sheddable requests exist only in the spike: the extra traffic.",
        ),
        (
            chart::lines(
                &frame(
                    scenario,
                    "Latency seen by the callers: p50 and p99 per half second",
                    "ms (log scale)",
                    180.0,
                ),
                &phases,
                Scale::Log {
                    min: 0.1,
                    max: 1000.0,
                },
                "",
                &latency,
            ),
            "A timed-out request counts at the callers' 1 s timeout.",
        ),
        (
            chart::lines(
                &frame(
                    scenario,
                    "Load reaching C, calls per second",
                    "calls / s",
                    160.0,
                ),
                &phases,
                Scale::Linear {
                    max: load_max(|b| b.c_rate),
                },
                "",
                &both(&ns, &bs, "calls to C", false, |b| Some(b.c_rate)),
            ),
            "Naive retries call a failing C three times per request; Buttress's breaker lets a few probes through.",
        ),
        (
            chart::lines(
                &frame(
                    scenario,
                    "Load reaching B's handler, calls per second",
                    "calls / s",
                    160.0,
                ),
                &phases,
                Scale::Linear {
                    max: load_max(|b| b.b_rate),
                },
                "",
                &both(&ns, &bs, "calls to B", false, |b| Some(b.b_rate)),
            ),
            "B's capacity is 200 calls a second (4 workers, 20 ms each); shed and rate-limited requests never reach its handler.",
        ),
    ]
}
