//! Reading what a debugging recorder saw.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A local recorder and its snapshotter.
pub fn recorder() -> (DebuggingRecorder, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    (recorder, snapshotter)
}

/// Every metric as `name{k=v,...}` (labels sorted) → value; histograms give
/// their sample count.
///
/// A debugging snapshot *drains* counters and gauges (they read 0
/// afterwards), so a test takes one snapshot per question, or keeps a
/// [`Tally`].
pub fn values(snapshotter: &Snapshotter) -> BTreeMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            };
            (name, value)
        })
        .collect()
}

/// The sum of every series of `name` whose labels include all of `with`.
pub fn sum(values: &BTreeMap<String, f64>, name: &str, with: &[&str]) -> f64 {
    values
        .iter()
        .filter(|(key, _)| {
            key.starts_with(&format!("{name}{{")) && with.iter().all(|label| key.contains(label))
        })
        .map(|(_, value)| value)
        .sum()
}

/// Snapshots accumulated over a test: counters and histogram counts add
/// up; gauges keep the last value a snapshot reported.
#[derive(Default)]
pub struct Tally {
    pub counts: BTreeMap<String, f64>,
    pub gauges: BTreeMap<String, f64>,
}

impl Tally {
    pub fn update(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(c) => *self.counts.entry(name).or_default() += c as f64,
                DebugValue::Histogram(h) => *self.counts.entry(name).or_default() += h.len() as f64,
                DebugValue::Gauge(g) => {
                    self.gauges.insert(name, g.into_inner());
                }
            }
        }
    }
}

/// The distinct values of `label` among the series of `name`.
pub fn label_values<'a>(
    values: &'a BTreeMap<String, f64>,
    name: &str,
    label: &str,
) -> std::collections::BTreeSet<&'a str> {
    let prefix = format!("{name}{{");
    let wanted = format!("{label}=");
    values
        .keys()
        .filter_map(|key| key.strip_prefix(&prefix)?.strip_suffix('}'))
        .filter_map(|labels| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(wanted.as_str()))
        })
        .collect()
}
