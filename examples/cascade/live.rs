//! A line per second while a run plays: what the callers got in the last
//! second, the breakers' states, and what the layers refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::Reason;

use super::counters::{Counters, What};
use super::load::{Outcome, Record, quantile};
use super::scenario::{Mode, Scenario};

/// Prints a line per second until aborted.
pub async fn lines(
    mode: Mode,
    scenario: Scenario,
    records: Arc<Mutex<Vec<Record>>>,
    counters: Arc<Counters>,
) {
    let second = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(scenario.start + second, second);
    loop {
        tick.tick().await;
        let now = scenario.elapsed();
        let from = now.saturating_sub(second);
        let (ok, total, mut latencies) = {
            let records = records.lock().unwrap();
            let recent: Vec<&Record> = records
                .iter()
                .filter(|r| r.sent + r.latency >= from)
                .collect();
            let ok = recent.iter().filter(|r| r.outcome() == Outcome::Success);
            let latencies: Vec<Duration> = recent.iter().map(|r| r.latency).collect();
            (ok.count(), recent.len(), latencies)
        };
        let marks = counters.marks();
        let refused = |reason: Reason| -> u64 {
            marks
                .iter()
                .filter(|m| m.what == What::Rejected(reason) && m.at >= from && m.at < now)
                .count() as u64
        };
        let breakers = match mode {
            Mode::Naive => format!("{:<28}", "(no breakers)"),
            Mode::Buttress => {
                let state = |layer| counters.state_at(layer, now).unwrap_or("closed");
                format!(
                    "A→B {:<9} B→C {:<9}",
                    state("breaker/b"),
                    state("breaker/c")
                )
            }
        };
        println!(
            "[{:<8} {:>3}s] {:<10} ok {:>5.1}%  p99 {:>5}ms  {}  shed {:>3}  limited {:>3}  open {:>3}  C hits {:>4}",
            mode.label(),
            now.as_secs(),
            scenario
                .phase_after(now.saturating_sub(Duration::from_millis(500)))
                .label(),
            if total == 0 {
                100.0
            } else {
                100.0 * ok as f64 / total as f64
            },
            quantile(&mut latencies, 0.99).as_millis(),
            breakers,
            refused(Reason::Shed),
            refused(Reason::RateLimited),
            refused(Reason::CircuitOpen),
            Counters::count(&counters.c_hits, from, now),
        );
    }
}
