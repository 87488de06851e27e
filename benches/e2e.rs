//! End to end on loopback: what a Buttress server stack costs a real
//! hyper 1 HTTP/1 server, in the server's own CPU time per request.
//!
//! ```text
//! cargo bench -p buttress-benches --bench e2e
//! E2E_ROUNDS=9 E2E_SECS=5 cargo bench -p buttress-benches --bench e2e
//! ```
//!
//! Three servers run in this process, each on an OS thread of its own
//! with a current-thread tokio runtime, listening on 127.0.0.1 at an
//! ephemeral port:
//!
//! - `bare`: a tower service answering 200 "ok" at once;
//! - `stack`: `ServerStack::new("e2e").build()` over it, defaults (context
//!   with fresh IDs, RED metrics into an installed Prometheus recorder,
//!   edge, load shedding by in-flight requests, adaptive limit, 10 s
//!   timeout);
//! - `tower`: tower's lighter equivalent over it — tower-http's
//!   `SetRequestId` + `PropagateRequestId`, `LoadShed`,
//!   `ConcurrencyLimit` (1,000), `Timeout` (10 s).
//!
//! A closed-loop load generator on the main thread keeps a fixed number of
//! keep-alive connections busy (a minimal HTTP/1.1 client, so that the
//! server rather than the generator gets most of the CPU; see
//! `e2e/wire_client.rs`), each sending the realistic eight-header request
//! of `support.rs` (host, user-agent, accept, content-type,
//! content-length, x-request-id, traceparent, authorization) as soon as
//! its last answer is read. Rounds alternate bare, stack, tower, bare, …
//! so drift in the machine's load hits all three alike.
//!
//! Per round and as medians it reports requests/s, p50/p99 latency and the
//! server thread's user CPU time per request (from
//! `/proc/<pid>/task/<tid>/stat`; see `e2e/thread_cpu.rs`), then what each
//! stack adds over the bare server of the same round, per round, as the
//! median of the rounds and pooled over them. Judge by the CPU figure:
//! requests/s moves ±15 % between rounds because the kernel's loopback
//! TCP takes most of the CPU (the system time, also printed). The exact
//! on-CPU time (user and system) is printed as a cross-check.
//!
//! The user time is a sample of timer ticks, and these cores are shared:
//! expect ±0.3 µs between runs. For an exact count of the instructions
//! each server thread executes per answer, `scripts/e2e-instructions`
//! runs this binary under callgrind twice (2 s and 5 s, on one
//! connection, so that how many requests hyper reads per wake-up does not
//! vary with valgrind's scheduling) and takes the difference, divided by
//! the difference in answers encoded (calls of hyper's `<Server as
//! Http1Transaction>::encode` in each thread's file).
//!
//! Settings (environment variables): `E2E_ROUNDS` (default 7),
//! `E2E_SECS` (measured seconds per round, default 3), `E2E_WARM_UP_SECS`
//! (unmeasured load before each, default 0.5), `E2E_CONNECTIONS`
//! (default 32), `E2E_RECORDER=0` to leave the Prometheus recorder out
//! (the RED layer then records into the `metrics` facade's no-op).

#[path = "e2e/closed_loop.rs"]
mod closed_loop;
#[path = "load/mod.rs"]
mod load;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/servers.rs"]
mod servers;
#[path = "e2e/thread_cpu.rs"]
mod thread_cpu;
#[path = "e2e/wire_client.rs"]
mod wire_client;

use std::time::Duration;

use closed_loop::Shape;
use load::machine::load_average;
use load::settings::{number, seconds};
use metrics_exporter_prometheus::PrometheusBuilder;
use servers::Kind;

fn main() {
    let rounds: usize = number("E2E_ROUNDS", 7);
    let shape = Shape {
        connections: number("E2E_CONNECTIONS", 32),
        warm_up: seconds("E2E_WARM_UP_SECS", Duration::from_millis(500)),
        window: seconds("E2E_SECS", Duration::from_secs(3)),
    };
    let recorder = number::<u8>("E2E_RECORDER", 1) != 0;
    if recorder {
        // As a service exporting its metrics would: the RED layer's
        // handles then record for real.
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder");
        // Histogram samples pile up until upkeep drains them, which the
        // exporter's HTTP listener would do on its own thread; do it here
        // too, or recording slows as the pile grows.
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                handle.run_upkeep();
            }
        });
    }
    println!(
        "e2e: {rounds} rounds of {:.1} s (+{:.1} s warm-up) per server, {} connections, Prometheus recorder {}; load average {}\n",
        shape.window.as_secs_f64(),
        shape.warm_up.as_secs_f64(),
        shape.connections,
        if recorder { "installed" } else { "absent" },
        load_average(),
    );

    // Started once and kept: an idle server costs no CPU, and every round
    // of a kind measures the same server.
    let servers = Kind::ALL.map(servers::start);
    let generator = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut figures = Vec::with_capacity(rounds);
    for number in 1..=rounds {
        let round = std::array::from_fn(|index| {
            let (server, cpu) = &servers[index];
            let measured = generator.block_on(closed_loop::run(server.addr(), cpu, shape));
            report::round(number, Kind::ALL[index], measured)
        });
        figures.push(round);
    }
    report::summary(&figures);
    println!("\nload average at the end: {}", load_average());
}
