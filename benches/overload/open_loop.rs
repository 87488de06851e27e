//! One phase of open-loop load: requests sent on a fixed (Poisson)
//! schedule whatever the answers, each with a client timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode};
use tokio::task::JoinSet;

use crate::arrivals::{Arrivals, uniform};
use crate::client::{Connection, exchange, realistic_request};
use crate::pool::Pool;

/// A sender more than this late on its schedule counts as late: the
/// generator itself could not keep up (tokio's timer adds up to ~1 ms).
const LATE: Duration = Duration::from_millis(5);

/// How one phase runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    pub(crate) per_sec: f64,
    pub(crate) duration: Duration,
    pub(crate) client_timeout: Duration,
    pub(crate) seed: u64,
    /// The criticality mix (`OVERLOAD_MIX`): each request carries the
    /// `x-criticality` of a class drawn by its share; empty, none does.
    pub(crate) mix: &'static [Class],
}

/// A class of requests: its `x-criticality` value and share.
pub(crate) type Class = (HeaderValue, f64);

/// How one class of the mix fared.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ClassOutcome {
    /// Requests offered, and those answered 200...
    pub(crate) offered: u64,
    pub(crate) ok: u64,
    /// ...of them, those offered after the phase's first second.
    pub(crate) offered_steady: u64,
    pub(crate) ok_steady: u64,
}

/// What one phase measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Requests the schedule called for.
    pub(crate) offered: u64,
    /// Offered requests that found no free connection, so were not sent.
    pub(crate) unsent: u64,
    /// Requests sent more than [`LATE`] after their scheduled time.
    pub(crate) late: u64,
    /// 200 answers, and those among them that arrived within the phase.
    pub(crate) ok: u64,
    pub(crate) ok_within_phase: u64,
    /// 503 answers (refusals).
    pub(crate) rejected: u64,
    /// Answers other than 200 and 503 (a 504 from a server timeout).
    pub(crate) other_status: u64,
    /// Requests the client gave up on at its timeout.
    pub(crate) timed_out: u64,
    /// Connections that failed mid-request.
    pub(crate) failed: u64,
    /// Latency of every 200 answer, from sending to the last body byte.
    pub(crate) ok_latencies: Vec<Duration>,
    /// The same, of requests sent after the phase's first second: the
    /// steady state, without the transient at the start of overload.
    pub(crate) ok_latencies_steady: Vec<Duration>,
    /// Per class of the phase's mix, in its order.
    pub(crate) classes: Vec<ClassOutcome>,
}

/// The phase's first second, left out of the steady-state latencies.
const TRANSIENT: Duration = Duration::from_secs(1);

enum Answer {
    /// The status, when the request was sent, and when it was answered.
    Status(StatusCode, Instant, Instant),
    TimedOut,
    Failed,
}

/// Draws a class of `mix` by its share.
fn draw(mix: &[Class], state: &mut u64) -> usize {
    let total: f64 = mix.iter().map(|(_, share)| share).sum();
    let mut pick = uniform(state) * total;
    mix.iter()
        .position(|(_, share)| {
            pick -= share;
            pick <= 0.0
        })
        .unwrap_or(mix.len().saturating_sub(1))
}

/// Runs `phase` against the server behind `pool`; returns once every
/// request sent has been answered or given up on.
pub(crate) async fn run(pool: &Arc<Pool>, phase: Phase) -> Outcome {
    let mut outcome = Outcome {
        classes: vec![ClassOutcome::default(); phase.mix.len()],
        ..Outcome::default()
    };
    let mut draws = phase.seed ^ 0x0c1a_55e5;
    let mut requests = JoinSet::new();
    let start = Instant::now();
    let end = start + phase.duration;
    for offset in Arrivals::new(phase.per_sec, phase.seed) {
        let scheduled = start + offset;
        if scheduled >= end {
            break;
        }
        // The timer has millisecond ticks: requests due within the same
        // tick go out together, each as close to its time as it allows.
        if scheduled > Instant::now() {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        outcome.offered += 1;
        if Instant::now() > scheduled + LATE {
            outcome.late += 1;
        }
        let mut request = realistic_request();
        let class = (!phase.mix.is_empty()).then(|| draw(phase.mix, &mut draws));
        if let Some(class) = class {
            let counts = &mut outcome.classes[class];
            counts.offered += 1;
            counts.offered_steady += u64::from(scheduled >= start + TRANSIENT);
            let level = phase.mix[class].0.clone();
            request.headers_mut().insert("x-criticality", level);
        }
        let Some(connection) = pool.take() else {
            outcome.unsent += 1;
            continue;
        };
        let answer = send(pool.clone(), connection, request, phase.client_timeout);
        requests.spawn(async move { (answer.await, class) });
    }
    while let Some(answer) = requests.join_next().await {
        let (answer, class) = answer.expect("a request task");
        if let (Some(class), Answer::Status(StatusCode::OK, sent, _)) = (class, &answer) {
            outcome.classes[class].ok += 1;
            outcome.classes[class].ok_steady += u64::from(*sent >= start + TRANSIENT);
        }
        match answer {
            Answer::Status(status, sent, done) => match status {
                StatusCode::OK => {
                    outcome.ok += 1;
                    outcome.ok_within_phase += u64::from(done <= end);
                    outcome.ok_latencies.push(done - sent);
                    if sent >= start + TRANSIENT {
                        outcome.ok_latencies_steady.push(done - sent);
                    }
                }
                StatusCode::SERVICE_UNAVAILABLE => outcome.rejected += 1,
                _ => outcome.other_status += 1,
            },
            Answer::TimedOut => outcome.timed_out += 1,
            Answer::Failed => outcome.failed += 1,
        }
    }
    outcome
}

async fn send(
    pool: Arc<Pool>,
    mut connection: Connection,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
    limit: Duration,
) -> Answer {
    let sent = Instant::now();
    match tokio::time::timeout(limit, exchange(&mut connection, request)).await {
        Ok(Ok(status)) => {
            let done = Instant::now();
            pool.put_back(connection);
            Answer::Status(status, sent, done)
        }
        Ok(Err(_)) => {
            pool.replace();
            Answer::Failed
        }
        // The connection still carries the abandoned request: close it,
        // as a real client does, and open another.
        Err(_) => {
            drop(connection);
            pool.replace();
            Answer::TimedOut
        }
    }
}
