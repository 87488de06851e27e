//! The load generator: open loop at a fixed rate (so a slow server gets
//! more requests in flight, as real traffic would), one record per
//! request. Regular callers take turns, each with its own API key; in the
//! greedy phase one more caller floods A; in the spike the extra traffic
//! is marked sheddable. It is A's trusted peer, so the criticality it
//! marks (`x-criticality`) and the deadline it sends count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::context::headers::{X_CRITICALITY, X_REQUEST_TIMEOUT_MS};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::scenario::{Phase, Scenario, Settings};
use super::services::{DEGRADED, http_client};

/// The header A's rate limit keys callers by.
pub const API_KEY: &str = "x-api-key";

/// What a caller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The full answer, C's part included.
    Success,
    /// An answer without C's part: B's fallback. Never a success.
    Degraded,
    /// Refused at once with a hint to come back: 503 or 429 with
    /// `Retry-After`.
    Refused,
    /// Anything else: an error status, a timeout, a broken connection.
    Failed,
}

/// One request, as the caller saw it.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// When it was sent, from the scenario's start.
    pub sent: Duration,
    /// How long its answer took (the caller's timeout if none came).
    pub latency: Duration,
    /// The answer's status; 0 for a timeout or a connection error.
    pub status: u16,
    /// Answered without C's part.
    pub degraded: bool,
    /// The answer carried `Retry-After`.
    pub retry_after: bool,
    /// Marked critical (else sheddable).
    pub critical: bool,
    /// Sent by the greedy caller.
    pub greedy: bool,
}

impl Record {
    pub fn outcome(&self) -> Outcome {
        match (self.status, self.degraded, self.retry_after) {
            (200, false, _) => Outcome::Success,
            (200, true, _) => Outcome::Degraded,
            (429 | 503, _, true) => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }

    pub fn ok(&self) -> bool {
        self.outcome() == Outcome::Success
    }
}

/// What every request needs.
#[derive(Clone)]
struct Sender {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: http::Uri,
    start: Instant,
    timeout: Duration,
    records: Arc<Mutex<Vec<Record>>>,
}

impl Sender {
    /// Sends one request as caller `key` and records what it got.
    async fn send(self, key: Arc<str>, critical: bool, greedy: bool) {
        let request = http::Request::get(self.uri.clone())
            .header(API_KEY, &*key)
            .header(
                X_CRITICALITY,
                if critical { "CRITICAL" } else { "SHEDDABLE" },
            )
            .header(X_REQUEST_TIMEOUT_MS, self.timeout.as_millis().to_string())
            .body(Empty::new())
            .expect("valid");
        let sent_at = Instant::now();
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status().as_u16();
            let degraded = response.headers().contains_key(DEGRADED);
            let retry_after = response.headers().contains_key(http::header::RETRY_AFTER);
            response.into_body().collect().await.ok()?;
            Some((status, degraded, retry_after))
        })
        .await;
        let (status, degraded, retry_after) = answer.ok().flatten().unwrap_or((0, false, false));
        let latency = match status {
            0 => self.timeout,
            _ => sent_at.elapsed(),
        };
        self.records.lock().unwrap().push(Record {
            sent: sent_at - self.start,
            latency,
            status,
            degraded,
            retry_after,
            critical,
            greedy,
        });
    }
}

/// Sends the scenario's traffic to A and returns every request's record
/// (sorted by the time it was sent) once the last one is answered or
/// timed out. `records` fills as answers come, for the live lines.
pub async fn generate(
    a: std::net::SocketAddr,
    scenario: &Scenario,
    settings: &Settings,
    records: Arc<Mutex<Vec<Record>>>,
) -> Vec<Record> {
    let sender = Sender {
        client: http_client(),
        uri: format!("http://{a}/").parse().expect("valid"),
        start: scenario.start,
        timeout: settings.client_timeout,
        records: records.clone(),
    };
    tokio::join!(
        regular(sender.clone(), scenario, settings),
        greedy(sender, scenario, settings),
    );
    let mut records = std::mem::take(&mut *records.lock().unwrap());
    records.sort_by_key(|r| r.sent);
    records
}

/// The regular callers, taking turns: `rate` requests per second, all
/// critical — but in the spike, `spike`× that, where only one request in
/// `spike` is critical (the usual traffic) and the rest sheddable.
async fn regular(sender: Sender, scenario: &Scenario, settings: &Settings) {
    let keys: Vec<Arc<str>> = (0..settings.callers)
        .map(|i| format!("caller-{i}").into())
        .collect();
    let mut tasks = JoinSet::new();
    let mut next = scenario.start;
    let (mut turn, mut critical_share) = (0, 0.0);
    loop {
        let elapsed = next - scenario.start;
        if elapsed >= scenario.length() {
            break;
        }
        let phase = scenario.phase_after(elapsed);
        let (rate, critical) = match phase {
            Phase::Spike => {
                critical_share += 1.0 / settings.spike;
                let critical = critical_share >= 1.0;
                if critical {
                    critical_share -= 1.0;
                }
                (settings.rate * settings.spike, critical)
            }
            _ => (settings.rate, true),
        };
        tokio::time::sleep_until(next).await;
        next += Duration::from_secs_f64(1.0 / rate);
        let key = keys[turn % keys.len()].clone();
        turn += 1;
        tasks.spawn(sender.clone().send(key, critical, false));
        // Reap finished tasks as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// The greedy caller: in its phase only, `greedy`× the regular callers'
/// rate on its own, critical like theirs.
async fn greedy(sender: Sender, scenario: &Scenario, settings: &Settings) {
    let key: Arc<str> = "greedy".into();
    let end = scenario.start + scenario.phase_end(Phase::Greedy);
    let interval = Duration::from_secs_f64(1.0 / (settings.rate * settings.greedy));
    let mut next = scenario.start + scenario.phase_start(Phase::Greedy);
    let mut tasks = JoinSet::new();
    while next < end {
        tokio::time::sleep_until(next).await;
        next += interval;
        tasks.spawn(sender.clone().send(key.clone(), true, true));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
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
