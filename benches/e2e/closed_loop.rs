//! The closed-loop load of one round: a fixed number of keep-alive
//! connections, each sending its next request as soon as the answer to
//! the last one is read, for a bounded time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::thread_cpu::{CpuTime, ThreadCpu};
use crate::wire_client::{WireConnection, realistic_request_bytes};

/// How a round runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) connections: usize,
    /// Load before measuring starts: connections warmed, the server's
    /// caches and allocator settled.
    pub(crate) warm_up: Duration,
    /// How long the measurement lasts.
    pub(crate) window: Duration,
}

/// What one round measured, over its window only.
#[derive(Debug)]
pub(crate) struct Round {
    /// Answers read within the window.
    pub(crate) answers: u64,
    /// Answers other than 200 (none are expected).
    pub(crate) failures: u64,
    /// The window's true length.
    pub(crate) elapsed: Duration,
    /// The server thread's CPU time within the window.
    pub(crate) server_cpu: CpuTime,
    /// Latency of every request sent and answered within the window.
    pub(crate) latencies: Vec<Duration>,
}

impl Round {
    pub(crate) fn requests_per_sec(&self) -> f64 {
        self.answers as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's user CPU time per request, in µs.
    pub(crate) fn user_us_per_request(&self) -> f64 {
        self.server_cpu.user.as_secs_f64() * 1e6 / self.answers as f64
    }

    /// The server's system CPU time per request (mostly loopback TCP), in µs.
    pub(crate) fn system_us_per_request(&self) -> f64 {
        self.server_cpu.system.as_secs_f64() * 1e6 / self.answers as f64
    }

    /// The server's exact on-CPU time per request, user and system, in µs.
    pub(crate) fn on_cpu_us_per_request(&self) -> f64 {
        self.server_cpu.on_cpu.as_secs_f64() * 1e6 / self.answers as f64
    }

    /// The share of the window the server thread spent on a CPU.
    pub(crate) fn server_busy(&self) -> f64 {
        self.server_cpu.on_cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }
}

/// Loads the server at `addr` as `shape` says, reading the server
/// thread's CPU time through `server` at the window's two ends.
pub(crate) async fn run(addr: SocketAddr, server: &ThreadCpu, shape: Shape) -> Round {
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let request: std::sync::Arc<[u8]> = realistic_request_bytes().into();
    let mut connections = Vec::with_capacity(shape.connections);
    for _ in 0..shape.connections {
        let connection = WireConnection::open(addr).await;
        connections.push(connection.expect("the server accepts"));
    }
    let window_start = Instant::now() + shape.warm_up;
    let window_end = window_start + shape.window;
    let mut tasks = Vec::with_capacity(shape.connections);
    for mut connection in connections {
        let answered = answered.clone();
        let failed = failed.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let sent = Instant::now();
                if sent >= window_end {
                    return latencies;
                }
                let status = connection
                    .exchange(&request)
                    .await
                    .expect("the server answers");
                let done = Instant::now();
                // Counted for every answer: the window's count is the
                // difference of two readings, taken with the CPU times.
                answered.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                if sent >= window_start && done <= window_end {
                    latencies.push(done - sent);
                }
            }
        }));
    }

    tokio::time::sleep_until(window_start.into()).await;
    let (cpu_before, answered_before, failed_before) = (
        server.read(),
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let measured_from = Instant::now();
    tokio::time::sleep_until(window_end.into()).await;
    let (cpu_after, answered_after, failed_after) = (
        server.read(),
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let elapsed = measured_from.elapsed();

    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load task"));
    }
    Round {
        answers: answered_after - answered_before,
        failures: failed_after - failed_before,
        elapsed,
        server_cpu: cpu_after - cpu_before,
        latencies,
    }
}
