//! The sink turns layer events into metrics and health, exactly.

mod support;

use std::time::Duration;

use buttress_core::telemetry::{Event, GaugeKind, LayerKind, Telemetry};
use buttress_core::{Outcome, Reason};
use buttress_metrics::MetricsSink;
use support::{Tally, recorder, sum, values};

#[test]
fn breaker_state_reads_one_for_exactly_the_current_state() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let breaker = metrics::with_local_recorder(&recorder, || {
        Telemetry::with_sink(&sink, LayerKind::Breaker, "payments")
    });
    let mut tally = Tally::default();
    let mut state_ones = |expected: &str| {
        // Every step below sets the state it leaves to 0 and the one it
        // enters to 1, so the drained snapshot still shows every state.
        tally.update(&snapshotter);
        let states: Vec<_> = tally
            .gauges
            .iter()
            .filter(|(k, _)| k.starts_with("buttress.breaker.state{"))
            .collect();
        assert!(
            states.len() >= 3,
            "every known state has a series: {states:?}"
        );
        let ones: Vec<_> = states.iter().filter(|(_, v)| **v == 1.0).collect();
        assert_eq!(ones.len(), 1, "{states:?}");
        assert!(
            ones[0].0.contains(&format!("buttress.state={expected}")),
            "{ones:?}"
        );
        assert!(states.iter().all(|(_, v)| **v == 0.0 || **v == 1.0));
    };
    state_ones("closed");
    for (from, to) in [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ] {
        breaker.report(Event::StateChanged { from, to });
        state_ones(to);
    }
    tally.update(&snapshotter);
    assert_eq!(
        sum(&tally.counts, "buttress.transitions", &["buttress.to=open"]),
        1.0
    );
    assert_eq!(sum(&tally.counts, "buttress.transitions", &[]), 3.0);
}

#[test]
fn events_reconcile_into_counters() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let bulkhead = metrics::with_local_recorder(&recorder, || {
        Telemetry::with_sink(&sink, LayerKind::Bulkhead, "inventory")
    });
    let outcomes = [
        Outcome::Success,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Ignored,
        Outcome::Cancelled,
    ];
    for outcome in outcomes {
        bulkhead.report(Event::Admitted);
        bulkhead.report(Event::Completed {
            outcome,
            duration: Duration::from_millis(3),
        });
    }
    for _ in 0..4 {
        bulkhead.report(Event::Rejected(Reason::BulkheadFull));
    }
    bulkhead.report(Event::Rejected(Reason::QueueTimeout));
    bulkhead.report(Event::Waited(Duration::from_millis(8)));
    bulkhead.report(Event::Gauge {
        kind: GaugeKind::InFlight,
        value: 7.0,
    });

    let all = values(&snapshotter);
    let layer = "buttress.layer=inventory";
    let admitted = sum(&all, "buttress.admitted", &[layer]);
    let calls = sum(&all, "buttress.calls", &[layer]);
    let rejected = sum(&all, "buttress.rejections", &[layer]);
    assert_eq!(admitted, 5.0);
    assert_eq!(calls, admitted, "every admitted call ends with one outcome");
    assert_eq!(
        sum(&all, "buttress.calls", &[layer, "buttress.outcome=success"]),
        2.0
    );
    assert_eq!(
        sum(
            &all,
            "buttress.calls",
            &[layer, "buttress.outcome=cancelled"]
        ),
        1.0
    );
    assert_eq!(rejected, 5.0);
    assert_eq!(
        sum(
            &all,
            "buttress.rejections",
            &[layer, "buttress.reason=bulkhead_full"]
        ),
        4.0
    );
    assert_eq!(sum(&all, "buttress.call.duration", &[layer]), 5.0);
    assert_eq!(sum(&all, "buttress.queue.wait", &[layer]), 1.0);
    assert_eq!(sum(&all, "buttress.in_flight", &[layer]), 7.0);
    assert!(sink.health().report_json().contains("\"in_flight\":7"));
}

/// Changes reaching the sink out of order (two transitions made at once
/// on different threads), and a replayed state, still leave exactly one
/// state at 1 — the last one told — in metrics and in the health report;
/// a replayed state counts no transition.
#[test]
fn a_state_is_shown_absolutely_whatever_order_changes_arrive_in() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let breaker = metrics::with_local_recorder(&recorder, || {
        Telemetry::with_sink(&sink, LayerKind::Breaker, "inventory")
    });
    let mut tally = Tally::default();
    let mut state_ones = |expected: &str| {
        tally.update(&snapshotter);
        let ones: Vec<_> = tally
            .gauges
            .iter()
            .filter(|(k, v)| k.starts_with("buttress.breaker.state{") && **v == 1.0)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(ones.len(), 1, "{ones:?}");
        assert!(
            ones[0].contains(&format!("buttress.state={expected}")),
            "{ones:?}"
        );
        let report = sink.health().report_json();
        assert!(
            report.contains(&format!("\"state\":\"{expected}\"")),
            "{report}"
        );
    };
    breaker.report(Event::StateChanged {
        from: "closed",
        to: "open",
    });
    state_ones("open");
    // Half-open → closed is reported before the open → half-open that
    // preceded it: once `from` → 0, `to` → 1, that left two states at 1.
    breaker.report(Event::StateChanged {
        from: "half_open",
        to: "closed",
    });
    state_ones("closed");
    breaker.report(Event::StateChanged {
        from: "open",
        to: "half_open",
    });
    state_ones("half_open");
    // The breaker, seeing it moved on, tells the sink where it is.
    breaker.report(Event::State("closed"));
    state_ones("closed");
    tally.update(&snapshotter);
    assert_eq!(sum(&tally.counts, "buttress.transitions", &[]), 3.0);
}

#[test]
fn readiness_follows_only_critical_layers() {
    let (recorder, _snapshotter) = recorder();
    let sink = MetricsSink::new();
    let (db, search) = metrics::with_local_recorder(&recorder, || {
        (
            Telemetry::with_sink(&sink, LayerKind::Breaker, "primary-db"),
            Telemetry::with_sink(&sink, LayerKind::Breaker, "search"),
        )
    });
    let health = sink.health();
    health.mark_critical("primary-db");
    search.report(Event::StateChanged {
        from: "closed",
        to: "open",
    });
    assert!(
        health.is_ready(),
        "a dependency's open breaker must not fail readiness"
    );
    db.report(Event::StateChanged {
        from: "closed",
        to: "open",
    });
    assert!(!health.is_ready());
    db.report(Event::StateChanged {
        from: "open",
        to: "half_open",
    });
    assert!(health.is_ready());
    health.set_draining(true);
    assert!(!health.is_ready());
    let report = health.report_json();
    assert!(
        report.contains("{\"kind\":\"breaker\",\"name\":\"search\",\"state\":\"open\"}"),
        "{report}"
    );
}
