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
    // Histograms and transitions are registered at their first sample,
    // against the recorder of the thread then: this test's, throughout.
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
    let mut tally = Tally::default();
    let mut state_ones = |expected: &str| {
        // Every step below sets the state it leaves to 0 and the one it
        // enters to 1, so the drained snapshot still shows every state.
        tally.update(&snapshotter);
        let states: Vec<_> = tally
            .gauges
            .iter()
            .filter(|(k, _)| k.starts_with("buttress.state{"))
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
    let _local = metrics::set_default_local_recorder(&recorder);
    let bulkhead = Telemetry::with_sink(&sink, LayerKind::Bulkhead, "inventory");
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
    assert_eq!(sum(&all, "buttress.queue.duration", &[layer]), 1.0);
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
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "inventory");
    let mut tally = Tally::default();
    let mut state_ones = |expected: &str| {
        tally.update(&snapshotter);
        let ones: Vec<_> = tally
            .gauges
            .iter()
            .filter(|(k, v)| k.starts_with("buttress.state{") && **v == 1.0)
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

/// A layer's series are the ones its kind can emit, registered at zero
/// when it registers — none a bulkhead could never move (a fallback
/// count, a retry cause, a breaker's reason) — and histograms appear
/// with their first sample.
#[test]
fn only_the_series_a_kind_can_emit_exist() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let _bulkhead = Telemetry::with_sink(&sink, LayerKind::Bulkhead, "pool");
    let _retry = Telemetry::with_sink(&sink, LayerKind::Retry, "again");
    let _timeout = Telemetry::with_sink(&sink, LayerKind::Timeout, "clock");
    let seen: Vec<String> = values(&snapshotter).into_keys().collect();
    let of = |layer: &str| -> Vec<String> {
        let needle = format!("buttress.layer={layer}");
        seen.iter()
            .filter(|key| key.contains(&needle))
            .map(|key| {
                let name = key.split('{').next().unwrap();
                let extra: Vec<&str> = key
                    .split(['{', ',', '}'])
                    .filter(|l| l.contains('=') && !l.starts_with("buttress.layer"))
                    .collect();
                format!("{name}{extra:?}")
            })
            .collect()
    };
    assert_eq!(
        of("pool"),
        [
            "buttress.admitted[]",
            "buttress.calls[\"buttress.outcome=cancelled\"]",
            "buttress.calls[\"buttress.outcome=failure\"]",
            "buttress.calls[\"buttress.outcome=ignored\"]",
            "buttress.calls[\"buttress.outcome=success\"]",
            "buttress.in_flight[]",
            "buttress.queue_depth[]",
            "buttress.rejections[\"buttress.reason=bulkhead_full\"]",
            "buttress.rejections[\"buttress.reason=queue_timeout\"]",
        ]
    );
    assert_eq!(
        of("again"),
        [
            "buttress.admitted[]",
            "buttress.retries[\"buttress.cause=grpc\"]",
            "buttress.retries[\"buttress.cause=local_rejection\"]",
            "buttress.retries[\"buttress.cause=status\"]",
            "buttress.retries[\"buttress.cause=timeout\"]",
            "buttress.retries[\"buttress.cause=transport\"]",
            "buttress.retry.budget_exhausted[]",
        ]
    );
    assert_eq!(
        of("clock"),
        [
            "buttress.rejections[\"buttress.reason=deadline_exceeded\"]",
            "buttress.rejections[\"buttress.reason=timeout\"]",
        ]
    );
}

/// Two live layers of one kind and name never merge: the later one
/// reports as `name#2`, in metrics and in health; once the first is
/// gone, a layer built again takes its name back.
#[test]
fn a_second_layer_under_a_name_in_use_gets_a_distinct_label() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let first = Telemetry::with_sink(&sink, LayerKind::RateLimit, "api");
    let second = Telemetry::with_sink(&sink, LayerKind::RateLimit, "api");
    let other_kind = Telemetry::with_sink(&sink, LayerKind::Breaker, "api");
    first.report(Event::Rejected(Reason::RateLimited));
    second.report(Event::Admitted);
    second.report(Event::Admitted);
    other_kind.report(Event::Admitted);
    let all = values(&snapshotter);
    let kind = "buttress.layer.kind=rate_limit";
    assert_eq!(
        sum(&all, "buttress.admitted", &[kind, "buttress.layer=api#2"]),
        2.0
    );
    assert_eq!(
        sum(&all, "buttress.admitted", &[kind, "buttress.layer=api}"]),
        0.0,
        "the first one's count is its own"
    );
    assert_eq!(
        sum(
            &all,
            "buttress.rejections",
            &[kind, "buttress.layer=api,", "buttress.reason=rate_limited"]
        ),
        1.0
    );
    assert_eq!(
        sum(&all, "buttress.admitted", &["buttress.layer.kind=breaker"]),
        1.0,
        "another kind may share the name"
    );
    let report = sink.health().report_json();
    assert!(report.contains("\"name\":\"api#2\""), "{report}");
    drop((first, second));
    let again = Telemetry::with_sink(&sink, LayerKind::RateLimit, "api");
    assert_eq!(
        sink.health()
            .report_json()
            .matches("\"rate_limit\"")
            .count(),
        1
    );
    again.report(Event::Admitted);
    let all = values(&snapshotter);
    assert_eq!(
        sum(&all, "buttress.admitted", &[kind, "buttress.layer=api}"]),
        1.0
    );
}
