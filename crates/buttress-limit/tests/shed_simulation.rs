//! The load-shedding simulation of issue 6, on tokio's paused clock with a
//! seeded RNG: exact and repeatable.
//!
//! A server of 20 slots × 20 ms (1,000 calls/s) queues whatever exceeds
//! its slots, unbounded, as a thread pool with an unbounded work queue
//! does. Critical traffic arrives at 50 % of its capacity and sheddable
//! traffic at 40 %; twice, for five seconds, sheddable traffic spikes to
//! 12× capacity. Callers give up after one second. Through the shedder
//! (in-flight signal, high 40, low 20):
//!
//! - critical availability (answered within the second) ≥ 99.5 %;
//! - ≥ 95 % of rejections land on sheddable traffic;
//! - the shedding state changes at most twice per spike (no flapping).
//!
//! Without it, the same traffic starves the critical calls. Run with
//! `cargo test -p buttress-limit --test shed_simulation -- --nocapture` to
//! see the figures.

use buttress_core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::telemetry::{Event, RecordingSink};
use buttress_core::{BoxError, Criticality, Reason, Rejected, RequestContext};
use buttress_limit::shed::{LoadShedLayer, ShedSignalConfig};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt, service_fn};

const SLOTS: usize = 20;
const SERVICE_TIME: Duration = Duration::from_millis(20);
/// Calls per millisecond the server completes.
const CAPACITY_PER_MS: f64 = SLOTS as f64 / 20.0;
const PATIENCE: Duration = Duration::from_secs(1);
const SEED: u64 = 0x5eed_0006;
/// (from ms, to ms) of each spike.
const SPIKES: [(u64, u64); 2] = [(2_000, 7_000), (12_000, 17_000)];
const END_MS: u64 = 22_000;

type Svc = BoxCloneService<http::Request<()>, http::Response<()>, BoxError>;

fn server() -> Svc {
    let slots = Arc::new(Semaphore::new(SLOTS));
    BoxCloneService::new(service_fn(move |_req: http::Request<()>| {
        let slots = slots.clone();
        async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            tokio::time::sleep(SERVICE_TIME).await;
            Ok::<_, BoxError>(http::Response::new(()))
        }
    }))
}

#[derive(Default)]
struct Tally {
    critical: AtomicU64,
    critical_ok: AtomicU64,
    sheddable: AtomicU64,
    sheddable_ok: AtomicU64,
    shed_critical: AtomicU64,
    shed_sheddable: AtomicU64,
    timed_out: AtomicU64,
}

struct Figures {
    critical_availability: f64,
    shed_on_sheddable: f64,
    changes_per_spike: Vec<usize>,
    tally: Arc<Tally>,
}

fn request(level: Criticality) -> http::Request<()> {
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(RequestContext::starting_now().with_criticality(level));
    req
}

/// Arrivals this millisecond at `per_ms` on average: the whole part, and
/// one more with the fraction's chance.
fn arrivals(rng: &mut fastrand::Rng, per_ms: f64) -> u64 {
    let whole = per_ms.floor();
    whole as u64 + u64::from(rng.f64() < per_ms - whole)
}

async fn run(svc: Svc, sink: Option<&RecordingSink>) -> Figures {
    let tally = Arc::new(Tally::default());
    let mut rng = fastrand::Rng::with_seed(SEED);
    let start = Instant::now();
    let changes = |sink: Option<&RecordingSink>| {
        sink.map_or(0, |sink| {
            sink.count(|_, event| matches!(event, Event::StateChanged { .. }))
        })
    };
    let mut marks = Vec::new();
    for ms in 0..END_MS {
        if SPIKES.iter().any(|(from, _)| *from == ms) {
            marks.push(changes(sink));
        }
        let spiking = SPIKES.iter().any(|(from, to)| (*from..*to).contains(&ms));
        let sheddable = if spiking { 12.0 } else { 0.4 } * CAPACITY_PER_MS;
        let critical = 0.5 * CAPACITY_PER_MS;
        let mut batch = Vec::new();
        for _ in 0..arrivals(&mut rng, critical) {
            batch.push(Criticality::Critical);
        }
        for _ in 0..arrivals(&mut rng, sheddable) {
            batch.push(Criticality::Sheddable);
        }
        rng.shuffle(&mut batch);
        for level in batch {
            let svc = svc.clone();
            let tally = tally.clone();
            tokio::spawn(async move {
                let critical = level == Criticality::Critical;
                let (sent, ok, shed) = if critical {
                    (&tally.critical, &tally.critical_ok, &tally.shed_critical)
                } else {
                    (&tally.sheddable, &tally.sheddable_ok, &tally.shed_sheddable)
                };
                sent.fetch_add(1, Ordering::Relaxed);
                match tokio::time::timeout(PATIENCE, svc.oneshot(request(level))).await {
                    Ok(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(err)) => {
                        let rejected = Rejected::find(&*err).expect("only rejections");
                        assert_eq!(rejected.reason(), Reason::Shed);
                        assert!(rejected.retry_after().is_some());
                        shed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => tally.timed_out.fetch_add(1, Ordering::Relaxed),
                };
            });
        }
        tokio::time::sleep_until(start + Duration::from_millis(ms + 1)).await;
    }
    marks.push(changes(sink));
    tokio::time::sleep(PATIENCE * 2).await;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    let shed = load(&tally.shed_critical) + load(&tally.shed_sheddable);
    Figures {
        critical_availability: load(&tally.critical_ok) / load(&tally.critical),
        shed_on_sheddable: if shed == 0.0 {
            1.0
        } else {
            load(&tally.shed_sheddable) / shed
        },
        changes_per_spike: marks.windows(2).map(|w| w[1] - w[0]).collect(),
        tally,
    }
}

fn print(name: &str, figures: &Figures) {
    let t = &figures.tally;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "{name:>10}: critical availability {:.3} % ({} of {}) | sheddable served {} of {} | shed: sheddable {}, critical {} ({:.2} % on sheddable) | timed out {} | state changes per spike {:?}",
        figures.critical_availability * 100.0,
        load(&t.critical_ok),
        load(&t.critical),
        load(&t.sheddable_ok),
        load(&t.sheddable),
        load(&t.shed_sheddable),
        load(&t.shed_critical),
        figures.shed_on_sheddable * 100.0,
        load(&t.timed_out),
        figures.changes_per_spike,
    );
}

#[tokio::test(start_paused = true)]
async fn critical_traffic_survives_a_12x_sheddable_spike() {
    let sink = RecordingSink::new();
    let layer = LoadShedLayer::builder()
        .configure(|c| c.signal = ShedSignalConfig::InFlight { high: 40, low: 20 })
        .name("sim")
        .sink(sink.clone())
        .build()
        .unwrap();
    let figures = run(BoxCloneService::new(layer.layer(server())), Some(&sink)).await;
    print("shed", &figures);
    assert!(
        figures.critical_availability >= 0.995,
        "critical availability {}",
        figures.critical_availability
    );
    assert!(
        figures.shed_on_sheddable >= 0.95,
        "share of rejections on sheddable {}",
        figures.shed_on_sheddable
    );
    assert_eq!(figures.changes_per_spike.len(), SPIKES.len());
    for changes in &figures.changes_per_spike {
        assert!(*changes <= 2, "state changes per spike {changes}");
        assert!(*changes >= 1, "the spike was shed");
    }
    assert!(
        figures.tally.sheddable_ok.load(Ordering::Relaxed) > 0,
        "sheddable work keeps the capacity critical work leaves free"
    );
    assert_eq!(
        layer.handle().shedding(),
        None,
        "back to normal after the spikes"
    );
    assert_eq!(layer.handle().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_shedding_the_same_spike_starves_critical_traffic() {
    let figures = run(server(), None).await;
    print("bare", &figures);
    assert!(figures.critical_availability < 0.9);
}
