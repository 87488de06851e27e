//! The load generator: open loop at a fixed rate (so a slow server gets
//! more requests in flight, as real traffic would), one record per
//! request, and a live line per second.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::Reason;
use http_body_util::{BodyExt, Empty};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::scenario::{Mode, Phase, Scenario, Settings};
use super::services::{Counters, DEGRADED, Topology, http_client};
use super::sink::reason_index;

/// One request, as the client saw it.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// When it was sent, from the scenario's start.
    pub sent: Duration,
    /// How long its answer took (the client's timeout if none came).
    pub latency: Duration,
    /// The answer's status; 0 for a timeout or a connection error.
    pub status: u16,
    /// Answered without C's part.
    pub degraded: bool,
    /// Whether the answer carried `Retry-After`.
    pub retry_after: bool,
    /// Sent as critical (else sheddable).
    pub critical: bool,
}

impl Record {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    pub fn full(&self) -> bool {
        self.ok() && !self.degraded
    }

    pub fn ended(&self) -> Duration {
        self.sent + self.latency
    }
}

/// Sends the scenario's traffic to A and returns every request's record
/// once the last one is answered or timed out.
pub async fn generate(
    topology: &Topology,
    scenario: &Scenario,
    settings: &Settings,
    counters: &Arc<Counters>,
) -> Vec<Record> {
    let client = http_client();
    let records = Arc::new(Mutex::new(Vec::<Record>::new()));
    let uri: http::Uri = format!("http://{}/", topology.a).parse().expect("valid");
    let deadline_ms = settings.client_timeout.as_millis().to_string();
    let live = (!settings.quiet).then(|| {
        tokio::spawn(live_lines(
            scenario.clone(),
            records.clone(),
            counters.clone(),
            topology.breakers.clone(),
            if topology.breakers.is_some() {
                Mode::Buttress
            } else {
                Mode::Naive
            },
        ))
    });

    let mut tasks = JoinSet::new();
    let mut next = scenario.start;
    let mut critical_share = 0.0;
    loop {
        let elapsed = next.saturating_duration_since(scenario.start);
        if elapsed >= scenario.length() {
            break;
        }
        let phase = scenario.phase_after(elapsed);
        let rate = match phase {
            Phase::Spike => settings.rate * settings.spike,
            _ => settings.rate,
        };
        // In the spike, one request in `spike` is critical, the rest
        // sheddable; otherwise all are critical.
        let critical = match phase {
            Phase::Spike => {
                critical_share += 1.0 / settings.spike;
                if critical_share >= 1.0 {
                    critical_share -= 1.0;
                    true
                } else {
                    false
                }
            }
            _ => true,
        };
        tokio::time::sleep_until(next).await;
        next += Duration::from_secs_f64(1.0 / rate);

        let request = http::Request::get(uri.clone())
            .header(
                "x-criticality",
                if critical { "CRITICAL" } else { "SHEDDABLE" },
            )
            .header("x-request-timeout-ms", deadline_ms.as_str())
            .body(Empty::new())
            .expect("valid");
        let client = client.clone();
        let records = records.clone();
        let timeout = settings.client_timeout;
        let start = scenario.start;
        tasks.spawn(async move {
            let sent_at = Instant::now();
            let answer = tokio::time::timeout(timeout, async {
                let response = client.request(request).await.ok()?;
                let status = response.status().as_u16();
                let degraded = response.headers().contains_key(DEGRADED);
                let retry_after = response.headers().contains_key(http::header::RETRY_AFTER);
                response.into_body().collect().await.ok()?;
                Some((status, degraded, retry_after))
            })
            .await;
            let (status, degraded, retry_after) =
                answer.ok().flatten().unwrap_or((0, false, false));
            let latency = if status == 0 {
                timeout
            } else {
                sent_at.elapsed()
            };
            records.lock().unwrap().push(Record {
                sent: sent_at - start,
                latency,
                status,
                degraded,
                retry_after,
                critical,
            });
        });
        // Reap finished tasks as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if let Some(live) = live {
        live.abort();
    }
    let mut records = std::mem::take(&mut *records.lock().unwrap());
    records.sort_by_key(|r| r.sent);
    records
}

/// The `q` quantile (0..=1) of `latencies`, sorted in place.
pub fn quantile(latencies: &mut [Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    let rank = ((latencies.len() as f64) * q).ceil() as usize;
    latencies[rank.clamp(1, latencies.len()) - 1]
}

fn sum_reasons(counters: &Counters, reasons: &[Reason]) -> u64 {
    counters
        .rejections
        .iter()
        .flat_map(|phase| {
            reasons
                .iter()
                .map(move |r| phase[reason_index(*r)].load(Ordering::Relaxed))
        })
        .sum()
}

async fn live_lines(
    scenario: Scenario,
    records: Arc<Mutex<Vec<Record>>>,
    counters: Arc<Counters>,
    breakers: Option<(
        buttress::breaker::CircuitBreakerHandle,
        buttress::breaker::CircuitBreakerHandle,
    )>,
    mode: Mode,
) {
    let shed_reasons = [
        Reason::Shed,
        Reason::BulkheadFull,
        Reason::Overloaded,
        Reason::QueueTimeout,
    ];
    let mut last = (0, 0, 0);
    let mut tick = tokio::time::interval_at(
        scenario.start + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tick.tick().await;
        let now = scenario.start.elapsed();
        let window = now.saturating_sub(Duration::from_secs(1));
        let (ok, total, mut latencies) = {
            let records = records.lock().unwrap();
            let recent: Vec<&Record> = records.iter().filter(|r| r.ended() >= window).collect();
            let ok = recent.iter().filter(|r| r.ok()).count();
            (
                ok,
                recent.len(),
                recent.iter().map(|r| r.latency).collect::<Vec<_>>(),
            )
        };
        let p99 = quantile(&mut latencies, 0.99);
        let shed = sum_reasons(&counters, &shed_reasons);
        let throttled = sum_reasons(&counters, &[Reason::Throttled]);
        let c_hits = Counters::total(&counters.c_hits);
        let states = match &breakers {
            Some((a, c)) => format!(
                "A→B {:<9} B→C {:<9}",
                a.state().as_str(),
                c.state().as_str()
            ),
            None => format!("{:<28}", "(no breakers)"),
        };
        println!(
            "[{:<8} {:>3}s] {:<10} ok {:>5.1}%  p99 {:>5}ms  {}  shed {:>4}  throttled {:>2}  C hits {:>4}",
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
            p99.as_millis(),
            states,
            shed - last.0,
            throttled - last.1,
            c_hits - last.2,
        );
        last = (shed, throttled, c_hits);
    }
}
