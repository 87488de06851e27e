//! One phase of open-loop load: requests sent on a fixed (Poisson)
//! schedule whatever the answers, each with a client timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::task::JoinSet;

use crate::arrivals::Arrivals;
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
}

/// The phase's first second, left out of the steady-state latencies.
const TRANSIENT: Duration = Duration::from_secs(1);

enum Answer {
    /// The status, when the request was sent, and when it was answered.
    Status(StatusCode, Instant, Instant),
    TimedOut,
    Failed,
}

/// Runs `phase` against the server behind `pool`; returns once every
/// request sent has been answered or given up on.
pub(crate) async fn run(pool: &Arc<Pool>, phase: Phase) -> Outcome {
    let mut outcome = Outcome::default();
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
        let Some(connection) = pool.take() else {
            outcome.unsent += 1;
            continue;
        };
        requests.spawn(send(pool.clone(), connection, phase.client_timeout));
    }
    while let Some(answer) = requests.join_next().await {
        match answer.expect("a request task") {
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

async fn send(pool: Arc<Pool>, mut connection: Connection, limit: Duration) -> Answer {
    let sent = Instant::now();
    match tokio::time::timeout(limit, exchange(&mut connection, realistic_request())).await {
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
