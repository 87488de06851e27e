//! Overload on real sockets: what a server whose capacity is bounded by
//! sleeps does when offered 1×, 2× and 4× that capacity, unprotected,
//! behind tower's concurrency limit and load shedding, and behind the
//! Buttress server stack.
//!
//! ```text
//! cargo bench -p buttress-benches --bench overload
//! OVERLOAD_SECS=10 OVERLOAD_LOADS=0.25,1,2,4,8 cargo bench -p buttress-benches --bench overload
//! ```
//!
//! The server (hyper 1 HTTP/1 on 127.0.0.1, its own OS thread and
//! current-thread runtime) has a fixed number of worker slots; each
//! request holds one for a fixed time (a tokio semaphore, then a sleep):
//! 20 slots × 20 ms = 1,000 requests/s by default. A capacity set by
//! sleeps rather than CPU stays put while the load generator shares the
//! machine's two cores; 4× it is 4,000 requests/s, which the generator
//! sustains beside the server (most of them refused) on two shared cores,
//! and a 20 ms service time keeps the p99 ratio about queueing rather
//! than about a few milliseconds of scheduling delay. Configurations,
//! each on a fresh server (loads run in order on the same server):
//!
//! - `none`: the handler alone — excess requests queue for a slot;
//! - `tower`: `LoadShed` over `ConcurrencyLimit` of the slot count;
//! - `buttress defaults`: `ServerStack::new("overload").build()`, told
//!   nothing about the capacity (adaptive limit, gradient, from 20;
//!   callers wait up to 100 ms for a permit, 5 ms once a queue stands);
//! - `buttress 5 ms wait`: the same with `max_wait` 5 ms, still told
//!   nothing about the capacity;
//! - `buttress bulkhead`: the stack with a bulkhead of the slot count in
//!   place of the adaptive limit, callers waiting at most one work time
//!   (20 ms) for a slot, at most one slot count of them.
//!
//! The load generator is open-loop: requests leave on a seeded Poisson
//! schedule whatever the answers, each on a connection of a pool opened
//! beforehand (HTTP/1 has one request in flight per connection); a
//! request that finds no free connection is counted as not sent, one
//! sent more than 5 ms behind schedule as late. Each request carries the
//! eight headers of a realistic client (`buttress_benches::realistic_request`)
//! and a client timeout, after which the client closes its connection and
//! opens another. Phases run
//! at 0.25× (the unloaded baseline), 1×, 2× and 4× nominal capacity.
//!
//! Per configuration and load it reports the offered rate, goodput (200
//! answers received within the phase, per second, and as a share of the
//! nominal capacity and of the capacity measured in the phase: slots ÷
//! the mean time a slot was held, as tokio's millisecond timer stretches
//! a 20 ms sleep to ~21 ms), 503 refusals, client timeouts, requests not
//! sent, p50/p99 latency of the admitted (200) requests — over the whole
//! phase and without its first second — their p99 over the unloaded one
//! (the median over configurations of the p99 at 0.25×), the adaptive
//! limit's range, and whether the target holds at 4×: goodput ≥ 90 % of
//! capacity with admitted p99 ≤ 3× unloaded.
//!
//! `cargo test --test overload_sim -- --nocapture` runs the same server
//! and configurations on tokio's paused clock first, exactly.
//!
//! Settings (environment variables): `OVERLOAD_SLOTS` (20),
//! `OVERLOAD_WORK_MS` (20), `OVERLOAD_SECS` per phase (5),
//! `OVERLOAD_LOADS` (`0.25,1,2,4`; the first is the unloaded baseline),
//! `OVERLOAD_CONNECTIONS` in the pool (2048), `OVERLOAD_TIMEOUT_SECS`
//! client timeout (1), `OVERLOAD_SEED` (1), `OVERLOAD_ONLY` (a
//! configuration name: run that one only), `OVERLOAD_MIX` (a criticality
//! mix such as `CRITICAL:5,SHEDDABLE_PLUS:35,SHEDDABLE:60`: each request
//! carries the `x-criticality` of a class drawn by its share, the
//! Buttress stacks' context trusts the caller so that it counts, and each
//! phase reports the share of each class answered 200; none by default).
//!
//! Mixed criticality at 10× (issue 19), the default stack only:
//!
//! ```text
//! OVERLOAD_ONLY="buttress defaults" OVERLOAD_LOADS=0.25,10 OVERLOAD_MIX=CRITICAL:5,SHEDDABLE_PLUS:35,SHEDDABLE:60 \
//!     cargo bench -p buttress-benches --bench overload
//! ```
//!
//! The pool is larger than the capacity times the client timeout, as the
//! callers of a busy service together are: without protection the queue
//! grows past the timeout, clients give up and reconnect, and the server
//! spends its slots on requests nobody waits for any more.

#[path = "overload/arrivals.rs"]
mod arrivals;
#[path = "overload/client.rs"]
mod client;
#[path = "load/mod.rs"]
mod load;
#[path = "overload/open_loop.rs"]
mod open_loop;
#[path = "overload/pool.rs"]
mod pool;
#[path = "overload/protection.rs"]
mod protection;
#[path = "overload/report.rs"]
mod report;
#[path = "overload/slow_handler.rs"]
mod slow_handler;

use std::sync::Arc;
use std::time::Duration;

use load::machine::load_average;
use load::settings::{number, seconds};
use open_loop::Phase;
use pool::Pool;
use protection::Protection;
use report::Row;
use slow_handler::{Capacity, SlotUse};

/// How often the adaptive limit is read during a phase.
const LIMIT_SAMPLE_EVERY: Duration = Duration::from_millis(50);

fn main() {
    let capacity = Capacity {
        slots: number("OVERLOAD_SLOTS", 20),
        work: Duration::from_secs_f64(number("OVERLOAD_WORK_MS", 20.0) / 1e3),
    };
    let phase_length = seconds("OVERLOAD_SECS", Duration::from_secs(5));
    let loads: Vec<f64> = std::env::var("OVERLOAD_LOADS")
        .unwrap_or_else(|_| "0.25,1,2,4".to_owned())
        .split(',')
        .map(|load| {
            load.trim()
                .parse()
                .expect("OVERLOAD_LOADS: numbers, comma-separated")
        })
        .collect();
    let connections: usize = number("OVERLOAD_CONNECTIONS", 2048);
    let client_timeout = seconds("OVERLOAD_TIMEOUT_SECS", Duration::from_secs(1));
    let seed: u64 = number("OVERLOAD_SEED", 1);
    let only = std::env::var("OVERLOAD_ONLY").ok();
    let mix: &'static [open_loop::Class] = Vec::leak(
        std::env::var("OVERLOAD_MIX")
            .unwrap_or_default()
            .split(',')
            .filter(|class| !class.trim().is_empty())
            .map(|class| {
                let (level, share) = class
                    .split_once(':')
                    .expect("OVERLOAD_MIX: LEVEL:share, comma-separated");
                let level = http::HeaderValue::from_str(level.trim()).expect("a header value");
                (level, share.trim().parse().expect("OVERLOAD_MIX: a share"))
            })
            .collect(),
    );
    println!(
        "overload: capacity {} slots × {} ms = {:.0} req/s; phases of {:.1} s at {loads:?}× capacity; \
         {connections} connections, client timeout {:.1} s, seed {seed}{}; load average {}\n",
        capacity.slots,
        capacity.work.as_secs_f64() * 1e3,
        capacity.per_sec(),
        phase_length.as_secs_f64(),
        client_timeout.as_secs_f64(),
        match mix.is_empty() {
            true => String::new(),
            false => format!(", criticality mix {mix:?} (callers trusted)"),
        },
        load_average(),
    );

    let generator = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut rows = Vec::new();
    for protection in Protection::ALL {
        if only
            .as_deref()
            .is_some_and(|name| name != protection.name())
        {
            continue;
        }
        let slot_use = Arc::new(SlotUse::default());
        let protected = protection::start(protection, capacity, slot_use.clone(), !mix.is_empty());
        let adaptive = protected
            .stack
            .as_ref()
            .and_then(|stack| stack.adaptive_limit().cloned());
        generator.block_on(async {
            let pool = Pool::open(protected.server.addr(), connections).await;
            if pool.failed_opens() > 0 {
                println!("{} connections could not be opened", pool.failed_opens());
            }
            for (index, &load) in loads.iter().enumerate() {
                let phase = Phase {
                    per_sec: load * capacity.per_sec(),
                    duration: phase_length,
                    client_timeout,
                    seed: seed.wrapping_add(index as u64),
                    mix,
                };
                let samples =
                    (phase_length.as_secs_f64() / LIMIT_SAMPLE_EVERY.as_secs_f64()) as usize;
                let sampler = adaptive.clone().map(|adaptive| {
                    tokio::spawn(async move {
                        let mut limits = Vec::with_capacity(samples);
                        for _ in 0..samples {
                            tokio::time::sleep(LIMIT_SAMPLE_EVERY).await;
                            limits.push(adaptive.limit());
                        }
                        limits
                    })
                });
                let outcome = open_loop::run(&pool, phase).await;
                let limits = match sampler {
                    Some(sampler) => sampler.await.expect("the sampler"),
                    None => Vec::new(),
                };
                let mean_hold = slot_use.take_mean_hold();
                rows.push(Row::new(
                    protection, load, phase, capacity, outcome, &limits, mean_hold,
                ));
                // Let connections closed after timeouts be replaced.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        drop(protected);
    }
    report::summary(&rows);
    println!("\nload average at the end: {}", load_average());
}
