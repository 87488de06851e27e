//! Descriptions and units of every metric, for exporters that render
//! them (`# HELP` lines, Prometheus unit suffixes), and their buckets.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use crate::names::{Instrument, METRICS};

/// Describes every Buttress metric ([`METRICS`]) to the installed
/// `metrics` recorder: its help text and, for those in seconds, its unit.
/// [`install`](crate::install) calls it; call it yourself after installing
/// a recorder if you give layers their own
/// [`MetricsSink`](crate::MetricsSink) instead.
pub fn describe() {
    for spec in METRICS {
        // Only seconds become a unit: a counted unit (`{call}`) adds no
        // suffix in Prometheus and is in the table for the reader.
        let unit = (spec.unit == "s").then_some(Unit::Seconds);
        match (spec.instrument, unit) {
            (Instrument::Counter, _) => describe_counter!(spec.name, spec.help),
            (Instrument::Gauge, Some(unit)) => describe_gauge!(spec.name, unit, spec.help),
            (Instrument::Gauge, None) => describe_gauge!(spec.name, spec.help),
            (Instrument::Histogram, Some(unit)) => {
                describe_histogram!(spec.name, unit, spec.help)
            }
            (Instrument::Histogram, None) => describe_histogram!(spec.name, spec.help),
        }
    }
}

/// Histogram buckets (seconds): OpenTelemetry's advice for
/// `http.server.request.duration` and the other request and call
/// durations (semantic conventions v1.44.0), 5 ms to 10 s.
///
/// Every Buttress histogram is in seconds and its name ends in
/// `duration`, so one rule gives them all explicit buckets — without
/// one, a Prometheus exporter renders a histogram as a summary:
///
/// ```
/// use buttress_metrics::{LATENCY_BUCKETS, names::{Instrument, METRICS}};
///
/// // metrics-exporter-prometheus:
/// // PrometheusBuilder::new()
/// //     .with_recommended_naming(true)
/// //     .set_buckets_for_metric(Matcher::Suffix("duration".into()), &LATENCY_BUCKETS)?
/// for spec in METRICS.iter().filter(|s| s.instrument == Instrument::Histogram) {
///     assert!(spec.name.ends_with("duration") && spec.unit == "s", "{}", spec.name);
/// }
/// assert_eq!(LATENCY_BUCKETS.len(), 14);
/// ```
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
