//! The metrics example, run on 127.0.0.1 and driven through a scripted
//! run — successes, retries, a failure, fallbacks, rejections of several
//! kinds — serves `/metrics` that `promtool check metrics` finds nothing
//! wrong with, that parses under a strict reader, whose every name and
//! label is in the metrics crate's table, and in which no series exists
//! that its layer's kind cannot emit.
//!
//! Without `promtool` on the PATH the promtool check is skipped with a
//! message (the README's test command needs only the Rust toolchain),
//! unless `BUTTRESS_REQUIRE_PROMTOOL=1` (set by `.ci/run`, which installs
//! Debian's `prometheus` package).

#![cfg(all(feature = "stack", feature = "serve", feature = "axum"))]

#[path = "../examples/metrics_server.rs"]
#[allow(dead_code)]
mod example;
#[path = "support/scripted_run.rs"]
mod scripted_run;
mod support;

use std::collections::BTreeSet;

use buttress::core::telemetry::LayerKind;
use buttress::metrics::names::{Instrument, METRICS, MetricSpec};
use scripted_run::scripted_run;
use support::prometheus::{Exposition, REQUIRE_PROMTOOL, Sample, parse, promtool_check};

/// The table row a Prometheus family comes from.
fn spec_of(family: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|spec| spec.prometheus_name() == family)
}

/// The family of a sample: its name without a histogram's suffix.
fn family_of<'a>(exposition: &Exposition, sample: &'a Sample) -> &'a str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| {
            sample
                .name
                .strip_suffix(suffix)
                .filter(|f| exposition.types.get(*f).map(String::as_str) == Some("histogram"))
        })
        .unwrap_or(&sample.name)
}

/// Whether a layer of `kind` can emit `sample` of the metric `spec`.
fn can_emit(kind: LayerKind, spec: &MetricSpec, sample: &Sample) -> bool {
    let emits = kind.emits();
    let label = |key: &str| sample.labels.get(key).map(String::as_str);
    match spec.name {
        "buttress.admitted" => emits.admitted,
        "buttress.calls" | "buttress.call.duration" => emits.completed,
        "buttress.rejections" => emits
            .reasons
            .iter()
            .any(|r| Some(r.as_str()) == label("buttress_reason")),
        "buttress.state" => emits
            .states
            .iter()
            .any(|s| Some(*s) == label("buttress_state")),
        "buttress.transitions" => !emits.states.is_empty(),
        "buttress.retries" | "buttress.retry.backoff.duration" => emits.retries,
        "buttress.retry.budget_exhausted" => emits.budget,
        "buttress.queue.duration" => emits.waited && kind != LayerKind::Chaos,
        "buttress.chaos.delay.duration" => emits.waited && kind == LayerKind::Chaos,
        "buttress.fallbacks" => emits.fallbacks,
        "buttress.limit"
        | "buttress.in_flight"
        | "buttress.queue_depth"
        | "buttress.min_rtt"
        | "buttress.probability" => emits.gauges.iter().any(|g| {
            let name = format!("buttress.{}", g.as_str());
            name == spec.name || name == format!("{}_seconds", spec.name)
        }),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_example_passes_promtool_and_matches_its_table() {
    let (text, report) = scripted_run().await;

    // 1. promtool finds nothing wrong.
    match promtool_check(&text) {
        Some(problems) => assert!(
            problems.trim().is_empty(),
            "promtool check metrics:\n{problems}\n---\n{text}"
        ),
        None if std::env::var(REQUIRE_PROMTOOL).as_deref() == Ok("1") => {
            panic!("{REQUIRE_PROMTOOL}=1 but promtool is not installed (Debian: prometheus)")
        }
        None => {
            // Straight to stderr, past the test harness' capture: a skip
            // must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the promtool check of the metrics example: promtool is not \
                 installed (Debian's `prometheus` package has it; .ci/run installs it \
                 and sets {REQUIRE_PROMTOOL}=1). The other checks ran."
            );
        }
    }

    // 2. It parses strictly; every histogram is one, with buckets.
    let exposition = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        exposition.types.values().all(|kind| kind != "summary"),
        "a histogram without buckets renders as a summary:\n{text}"
    );

    // 3. Every family and every label is in the table.
    for (family, kind) in &exposition.types {
        let spec = spec_of(family).unwrap_or_else(|| panic!("{family} is not in the table"));
        assert_eq!(kind, spec.instrument.as_str(), "{family}");
    }
    for sample in &exposition.samples {
        let spec = spec_of(family_of(&exposition, sample)).expect("declared");
        let allowed: BTreeSet<String> = spec.labels.iter().map(|l| l.replace('.', "_")).collect();
        for key in sample.labels.keys() {
            let bucket = key == "le" && spec.instrument == Instrument::Histogram;
            assert!(
                bucket || allowed.contains(key),
                "{} carries {key}, not in its row {:?}",
                sample.name,
                spec.labels
            );
        }
    }

    // 4. No series exists that its layer's kind cannot emit.
    for sample in &exposition.samples {
        let Some(kind) = sample.labels.get("buttress_layer_kind") else {
            continue;
        };
        let kind = LayerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .unwrap_or_else(|| panic!("unknown kind {kind}"));
        let spec = spec_of(family_of(&exposition, sample)).expect("declared");
        assert!(
            can_emit(kind, spec, sample),
            "a {kind} layer cannot emit {} {:?}",
            sample.name,
            sample.labels
        );
    }
    let kind_series = |family: &str, kind: &str| {
        exposition
            .family(family)
            .into_iter()
            .filter(|s| s.labels.get("buttress_layer_kind").map(String::as_str) == Some(kind))
            .count()
    };
    assert_eq!(kind_series("buttress_fallbacks_total", "bulkhead"), 0);
    assert_eq!(kind_series("buttress_retries_total", "breaker"), 0);

    // 5. What the run did shows, under the conventions' names.
    let total = |family: &str, with: &[(&str, &str)]| -> f64 {
        exposition
            .family(family)
            .into_iter()
            .filter(|s| {
                with.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    };
    let server = "http_server_request_duration_seconds_count";
    for (status, outcome) in [
        ("200", "success"),
        ("502", "failure"),
        ("503", "rejected"),
        ("504", "rejected"),
        ("429", "rejected"),
    ] {
        assert!(
            total(
                server,
                &[
                    ("http_response_status_code", status),
                    ("buttress_outcome", outcome)
                ]
            ) > 0.0,
            "{status} {outcome}:\n{text}"
        );
    }
    assert!(total(server, &[("error_type", "rate_limited")]) > 0.0);
    assert!(total(server, &[("error_type", "timeout")]) > 0.0);
    assert!(total(server, &[("error_type", "circuit_open")]) > 0.0);
    assert!(total(server, &[("http_route", "/orders/{id}")]) > 0.0);
    let client = "http_client_request_duration_seconds_count";
    assert!(total(client, &[("server_address", "127.0.0.1")]) > 0.0);
    assert!(
        total(client, &[("buttress_outcome", "fallback")]) >= 10.0,
        "every degraded read counted as a fallback"
    );
    assert!(total("buttress_retries_total", &[("buttress_cause", "status")]) >= 3.0);
    assert!(total("buttress_fallbacks_total", &[("buttress_cause", "failure")]) > 0.0);
    assert!(
        total(
            "buttress_fallbacks_total",
            &[("buttress_cause", "circuit_open")]
        ) > 0.0
    );
    assert_eq!(
        total(
            "buttress_state",
            &[("buttress_layer", "inventory"), ("buttress_state", "open")]
        ),
        1.0
    );
    assert!(report.contains(r#""name":"inventory""#), "{report}");
    let zeros = exposition.samples.iter().filter(|s| s.value == 0.0).count();
    eprintln!(
        "/metrics: {} lines, {} samples, {zeros} of them zero",
        text.lines().count(),
        exposition.samples.len()
    );
}

/// The promtool check is not vacuous: what it objects to, it says.
#[test]
fn promtool_objects_to_a_counter_named_against_the_conventions() {
    if let Some(problems) = promtool_check("# HELP a A count.\n# TYPE a counter\na 1\n") {
        assert!(problems.contains("_total"), "{problems}");
    }
}

#[test]
fn the_example_takes_its_port_from_a_flag_or_picks_one() {
    let args = |a: &[&str]| example::Options::parse(a.iter().map(|s| s.to_string()));
    assert_eq!(args(&[]).unwrap().port, 0, "a free port by default");
    let options = args(&["--port", "8080", "--inventory", "http://inventory:9000"]).unwrap();
    assert_eq!(options.port, 8080);
    assert_eq!(options.inventory.unwrap().port_u16(), Some(9000));
    assert!(args(&["--port"]).is_err());
    assert!(args(&["--port", "http"]).is_err());
    assert!(args(&["--verbose"]).is_err());
}

#[test]
fn the_strict_reader_refuses_what_the_format_forbids() {
    assert!(parse("# TYPE a counter\na 1\n").is_ok());
    assert!(parse("a 1\n").is_err(), "undeclared");
    assert!(parse("# TYPE a counter\na 1").is_err(), "no final newline");
    assert!(
        parse("# TYPE a counter\na{b=\"c\\x\"} 1\n").is_err(),
        "bad escape"
    );
    assert!(
        parse("# TYPE a counter\na{1b=\"c\"} 1\n").is_err(),
        "bad label name"
    );
    assert!(parse("# TYPE a counter\na one\n").is_err(), "bad value");
    assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n").is_err());
    assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n").is_ok());
}
