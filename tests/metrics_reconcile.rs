//! Every counter reconciles exactly: a scripted scenario through a client
//! stack — RED → retry → bulkhead → breaker → timeout → dependency — on
//! paused time, recorded by metrics-util's debugging recorder.
//!
//! Per layer: calls offered = admitted + Σ rejections by reason, and
//! admitted = Σ calls by outcome (success, failure, ignored, cancelled).
//! Across layers: every attempt the retry layer sends (requests +
//! retries) is offered to the bulkhead; every call the bulkhead admits is
//! offered to the breaker; every call the breaker admits reaches the
//! dependency.

mod support;

use buttress::core::layer::LayerBuilder;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use buttress::breaker::{CircuitBreakerLayer, State, WindowConfig};
use buttress::core::timeout::TimeoutLayer;
use buttress::limit::BulkheadLayer;
use buttress::metrics::{MetricsSink, RedLayer, RedSide};
use buttress::retry::RetryLayer;
use bytes::Bytes;
use http_body_util::Empty;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::{ServiceBuilder, ServiceExt};

const HEALTHY: u8 = 0;
const UNAVAILABLE: u8 = 1;
const HANGING: u8 = 2;

/// Counters and histogram counts summed over snapshots (a debugging
/// snapshot drains them), gauges as last seen.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, f64>,
    gauges: BTreeMap<String, f64>,
}

impl Tally {
    fn update(&mut self, snapshotter: &Snapshotter) {
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

    fn sum(&self, name: &str, layer: &str, with: &[&str]) -> f64 {
        let inner = format!("buttress.layer={layer},");
        let last = format!("buttress.layer={layer}}}");
        self.counts
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{name}{{")))
            .filter(|(k, _)| k.contains(&inner) || k.ends_with(&last))
            .filter(|(k, _)| with.iter().all(|l| k.contains(l)))
            .map(|(_, v)| v)
            .sum()
    }
}

#[test]
fn every_counter_reconciles_exactly() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let sink = MetricsSink::new();
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let hits = Arc::new(AtomicUsize::new(0));

    let (stack, breaker) = metrics::with_local_recorder(&recorder, || {
        let breaker = CircuitBreakerLayer::builder()
            .configure(|c| {
                c.window = WindowConfig::Count { size: 20 };
                c.minimum_calls = 10;
                c.failure_rate = 50.0;
                c.wait = Duration::from_secs(5);
                c.permitted_probes = 3;
            })
            .name("ledger")
            .sink(sink.clone())
            .build()
            .unwrap();
        let handle = breaker.handle();
        let retry = RetryLayer::builder()
            .configure(|c| {
                c.max_attempts = 3;
                c.backoff.base = Duration::from_millis(10);
                c.backoff.max = Duration::from_millis(100);
                c.seed = Some(7);
            })
            .name("ledger-retry")
            .sink(sink.clone())
            .build()
            .unwrap();
        let bulkhead = BulkheadLayer::builder()
            .configure(|c| c.max_concurrent = 4)
            .name("ledger-pool")
            .sink(sink.clone())
            .build()
            .unwrap();
        let timeout = TimeoutLayer::builder()
            .configure(|c| c.limit = Some(Duration::from_millis(200)))
            .name("ledger-attempt")
            .sink(Arc::new(sink.clone()))
            .build()
            .unwrap();
        let (mode, hits) = (mode.clone(), hits.clone());
        let dependency = tower::service_fn(move |_req: http::Request<_>| {
            hits.fetch_add(1, Ordering::SeqCst);
            let mode = mode.load(Ordering::SeqCst);
            async move {
                match mode {
                    UNAVAILABLE => {
                        Ok::<_, Infallible>(http::Response::builder().status(503).body(()).unwrap())
                    }
                    HANGING => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok(http::Response::new(()))
                    }
                    _ => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok(http::Response::new(()))
                    }
                }
            }
        });
        let stack = ServiceBuilder::new()
            .layer(
                RedLayer::builder()
                    .configure(|c| c.side = RedSide::Client)
                    .name("ledger")
                    .build()
                    .unwrap(),
            )
            .layer(retry)
            .layer(bulkhead)
            .layer(breaker)
            .layer(timeout)
            .service(dependency);
        (stack, handle)
    });

    let mut tally = Tally::default();
    let offered = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let request = || {
                http::Request::get("/ledger")
                    .body(Empty::<Bytes>::new())
                    .unwrap()
            };
            let mut offered = 0u64;

            // 1. Healthy, in bursts of 8 against a bulkhead of 4: some are
            //    refused locally (and, being local, not retried).
            for _ in 0..6 {
                let mut burst = tokio::task::JoinSet::new();
                for _ in 0..8 {
                    burst.spawn(stack.clone().oneshot(request()));
                }
                offered += 8;
                while burst.join_next().await.is_some() {}
            }
            // 2. Unavailable: 503s are retried (within the budget) and the
            //    breaker trips; an open breaker's refusals are not retried.
            mode.store(UNAVAILABLE, Ordering::SeqCst);
            for _ in 0..30 {
                let _ = stack.clone().oneshot(request()).await;
                offered += 1;
            }
            assert_eq!(breaker.state(), State::Open);
            // 3. Hanging: after the wait the probes time out (sent
            //    timeouts, which are failures) and it opens again.
            mode.store(HANGING, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(6)).await;
            for _ in 0..5 {
                let _ = stack.clone().oneshot(request()).await;
                offered += 1;
            }
            // 4. Recovery, with callers that give up midway (cancelled).
            mode.store(HEALTHY, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
            for _ in 0..3 {
                let _ = tokio::time::timeout(
                    Duration::from_millis(1),
                    stack.clone().oneshot(request()),
                )
                .await;
                offered += 1;
            }
            for _ in 0..20 {
                assert!(stack.clone().oneshot(request()).await.is_ok());
                offered += 1;
            }
            assert_eq!(breaker.state(), State::Closed);
            offered as f64
        })
    });
    tally.update(&snapshotter);
    let t = &tally;

    // RED saw every request once.
    assert_eq!(
        t.counts
            .iter()
            .filter(|(k, _)| k.starts_with("http.client.request.duration{"))
            .map(|(_, v)| v)
            .sum::<f64>(),
        offered
    );
    assert_eq!(
        t.counts
            .iter()
            .filter(|(k, _)| k.starts_with("http.client.request.duration{")
                && k.contains("buttress.outcome=cancelled"))
            .map(|(_, v)| v)
            .sum::<f64>(),
        3.0
    );

    // Retry admitted every request; each retry is one more attempt below.
    let retry_admitted = t.sum("buttress.admitted", "ledger-retry", &[]);
    let retries = t.sum("buttress.retries", "ledger-retry", &[]);
    assert_eq!(retry_admitted, offered);
    assert!(retries > 0.0, "the 503s were retried");

    // The bulkhead: offered = admitted + rejected; admitted = Σ outcomes.
    let pool_admitted = t.sum("buttress.admitted", "ledger-pool", &[]);
    let pool_rejected = t.sum("buttress.rejections", "ledger-pool", &[]);
    assert!(pool_rejected > 0.0, "bursts overflowed the bulkhead");
    assert_eq!(
        pool_admitted + pool_rejected,
        retry_admitted + retries,
        "every attempt reached the bulkhead"
    );
    assert_eq!(pool_admitted, t.sum("buttress.calls", "ledger-pool", &[]));
    assert_eq!(
        t.sum(
            "buttress.calls",
            "ledger-pool",
            &["buttress.outcome=cancelled"]
        ),
        3.0
    );

    // The breaker: offered = admitted + rejected; admitted = Σ outcomes.
    let breaker_admitted = t.sum("buttress.admitted", "ledger", &[]);
    let breaker_rejected = t.sum("buttress.rejections", "ledger", &[]);
    assert!(breaker_rejected > 0.0, "the open breaker refused calls");
    assert_eq!(
        breaker_admitted + breaker_rejected,
        pool_admitted,
        "every admitted call reached the breaker"
    );
    assert_eq!(breaker_admitted, t.sum("buttress.calls", "ledger", &[]));
    assert_eq!(
        breaker_admitted as usize,
        hits.load(Ordering::SeqCst),
        "every admitted call reached the dependency"
    );

    // The timeout refused nothing on arrival and timed out the hung probes.
    assert!(
        t.sum(
            "buttress.rejections",
            "ledger-attempt",
            &["buttress.reason=timeout"]
        ) > 0.0
    );

    // Exactly one breaker state reads 1, and it is closed.
    let states: Vec<_> = t
        .gauges
        .iter()
        .filter(|(k, _)| k.starts_with("buttress.state{") && k.contains("buttress.layer=ledger,"))
        .collect();
    let ones: Vec<_> = states.iter().filter(|(_, v)| **v == 1.0).collect();
    assert_eq!(ones.len(), 1, "{states:?}");
    assert!(ones[0].0.contains("buttress.state=closed"), "{ones:?}");
}
