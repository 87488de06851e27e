//! The chaos layer's behaviour on tokio's paused clock (and one real-time
//! burst on two threads): rate accuracy, directives, delays, the cap.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress_chaos::{AbortConfig, ChaosLayer, DelayConfig, InjectedFault, Latency};
use buttress_core::context::{FaultAbort, FaultDirective};
use buttress_core::telemetry::{Event, RecordingSink};
use buttress_core::timeout::TimeoutLayer;
use buttress_core::{BoxError, GrpcCode, Reason, Rejected, RequestContext};
use http::{HeaderValue, Request, Response, StatusCode};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// A dependency that counts its calls.
#[derive(Clone, Default)]
struct Dependency {
    calls: Arc<AtomicUsize>,
}

impl Service<Request<()>> for Dependency {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(Response::new(())))
    }
}

fn abort_of(err: &BoxError) -> FaultAbort {
    err.downcast_ref::<InjectedFault>()
        .expect("an injected fault")
        .abort()
}

fn with_fault(text: &'static str) -> RequestContext {
    RequestContext::starting_now().with_raw_fault(HeaderValue::from_static(text))
}

/// Runs `n` calls through one instance (`ready` + `call`), returning the
/// indices of the failed ones.
async fn failures(layer: &ChaosLayer, n: usize) -> Vec<usize> {
    let mut svc = layer.layer(Dependency::default());
    let mut failed = Vec::new();
    for i in 0..n {
        let result = svc.ready().await.unwrap().call(Request::new(())).await;
        if let Err(err) = result {
            assert_eq!(
                Rejected::find(&*err).unwrap().reason(),
                Reason::FaultInjected
            );
            assert!(Rejected::find(&*err).unwrap().was_sent());
            failed.push(i);
        }
    }
    failed
}

#[tokio::test(start_paused = true)]
async fn a_two_percent_rate_over_100k_seeded_calls_lands_within_a_fifth_of_a_point() {
    const CALLS: usize = 100_000;
    for seed in [1, 2, 3, 42, 0xDEAD_BEEF] {
        let layer = ChaosLayer::builder()
            .name("payments")
            .configure(|c| {
                c.abort = Some(AbortConfig {
                    percent: 2.0,
                    with: FaultAbort::HttpStatus(StatusCode::SERVICE_UNAVAILABLE),
                });
                c.seed = Some(seed);
            })
            .build()
            .unwrap();
        let failed = failures(&layer, CALLS).await;
        let rate = failed.len() as f64 * 100.0 / CALLS as f64;
        println!(
            "seed {seed}: {} of {CALLS} aborted = {rate:.3} %",
            failed.len()
        );
        assert!((rate - 2.0).abs() <= 0.2, "seed {seed}: {rate} %");
        assert_eq!(layer.handle().stats().aborted, failed.len() as u64);
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_fails_the_same_calls() {
    let build = |seed| {
        ChaosLayer::builder()
            .name("payments")
            .configure(|c| {
                c.abort = Some(AbortConfig {
                    percent: 5.0,
                    with: FaultAbort::Transport,
                });
                c.seed = Some(seed);
            })
            .build()
            .unwrap()
    };
    let first = failures(&build(9), 5_000).await;
    assert_eq!(first, failures(&build(9), 5_000).await);
    assert_ne!(first, failures(&build(10), 5_000).await);
}

#[tokio::test(start_paused = true)]
async fn nothing_configured_injects_nothing_even_with_a_directive() {
    let dependency = Dependency::default();
    let layer = ChaosLayer::builder().name("recs").build().unwrap();
    let svc = layer.layer(dependency.clone());
    let ctx = with_fault("dependency=recs;abort=503");
    ctx.scope(async {
        for _ in 0..100 {
            svc.clone().oneshot(Request::new(())).await.unwrap();
        }
    })
    .await;
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 100);
    assert_eq!(layer.handle().stats().calls, 100);
}

#[tokio::test(start_paused = true)]
async fn a_directive_fails_only_the_dependency_it_names() {
    let sink = RecordingSink::new();
    let build = |name: &'static str| {
        ChaosLayer::builder()
            .name(name)
            .configure(|c| c.directives = true)
            .sink(Arc::new(sink.clone()))
            .build()
            .unwrap()
    };
    let (recs, inventory) = (Dependency::default(), Dependency::default());
    let recs_svc = build("recs").layer(recs.clone());
    let inventory_svc = build("inventory").layer(inventory.clone());

    let ctx = with_fault("dependency=recs;abort=grpc:UNAVAILABLE");
    let (recs_result, inventory_result) = ctx
        .scope(async {
            (
                recs_svc.oneshot(Request::new(())).await,
                inventory_svc.oneshot(Request::new(())).await,
            )
        })
        .await;
    assert_eq!(
        abort_of(&recs_result.unwrap_err()),
        FaultAbort::Grpc(GrpcCode::Unavailable)
    );
    inventory_result.unwrap();
    assert_eq!(
        recs.calls.load(Ordering::Relaxed),
        0,
        "an abort never calls the dependency"
    );
    assert_eq!(inventory.calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        sink.events_for("recs"),
        vec![Event::Rejected(Reason::FaultInjected)]
    );
    assert!(sink.events_for("inventory").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_context_in_the_request_extensions_is_read_too() {
    let layer = ChaosLayer::builder()
        .name("recs")
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(with_fault("dependency=recs;abort=reset"));
    let err = layer
        .layer(Dependency::default())
        .oneshot(req)
        .await
        .unwrap_err();
    assert_eq!(abort_of(&err), FaultAbort::Transport);
    assert_eq!(err.to_string(), "fault injected: connection reset");
}

#[tokio::test(start_paused = true)]
async fn bad_directives_are_ignored_counted_and_the_good_one_applies() {
    let dependency = Dependency::default();
    let layer = ChaosLayer::builder()
        .name("recs")
        .configure(|c| {
            c.directives = true;
            c.max_delay = Duration::from_secs(5);
        })
        .build()
        .unwrap();
    let svc = layer.layer(dependency.clone());
    for text in [
        "dependency=recs;abort=200",
        "dependency=recs;delay=10s", // over this layer's max delay
        "dependency=recs;abort=503;bogus=1",
        "garbage",
    ] {
        let ctx = with_fault(text);
        ctx.scope(svc.clone().oneshot(Request::new(())))
            .await
            .unwrap();
    }
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 4);
    assert_eq!(layer.handle().stats().ignored_directives, 4);

    let ctx = with_fault("dependency=recs;abort=nope, dependency=recs;abort=502");
    let err = ctx
        .scope(svc.clone().oneshot(Request::new(())))
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&err),
        FaultAbort::HttpStatus(StatusCode::BAD_GATEWAY)
    );
    assert_eq!(layer.handle().stats().ignored_directives, 5);
}

#[tokio::test(start_paused = true)]
async fn a_directive_percentage_faults_about_that_share() {
    let layer = ChaosLayer::builder()
        .name("recs")
        .configure(|c| {
            c.directives = true;
            c.seed = Some(5);
        })
        .build()
        .unwrap();
    let svc = layer.layer(Dependency::default());
    let ctx = with_fault("dependency=recs;abort=503;percent=30");
    let mut failed = 0;
    for _ in 0..10_000 {
        if ctx
            .clone()
            .scope(svc.clone().oneshot(Request::new(())))
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    assert!((2_850..=3_150).contains(&failed), "{failed}");
    let ctx = with_fault("dependency=recs;abort=503;percent=0");
    for _ in 0..1_000 {
        ctx.clone()
            .scope(svc.clone().oneshot(Request::new(())))
            .await
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_fault_in_the_request_extensions_applies_to_that_call() {
    let layer = ChaosLayer::builder().name("recs").build().unwrap();
    let mut req = Request::new(());
    req.extensions_mut().insert(
        FaultDirective::none()
            .with_abort(FaultAbort::HttpStatus(StatusCode::INTERNAL_SERVER_ERROR)),
    );
    let err = layer
        .layer(Dependency::default())
        .oneshot(req)
        .await
        .unwrap_err();
    assert_eq!(
        abort_of(&err),
        FaultAbort::HttpStatus(StatusCode::INTERNAL_SERVER_ERROR)
    );
}

#[tokio::test(start_paused = true)]
async fn a_delay_holds_the_call_then_sends_it() {
    let dependency = Dependency::default();
    let layer = ChaosLayer::builder()
        .name("b")
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let svc = layer.layer(dependency.clone());
    let start = Instant::now();
    with_fault("dependency=b;delay=2s")
        .scope(svc.oneshot(Request::new(())))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 1);
    assert_eq!(layer.handle().active(), 0);

    // Delay and abort: the abort comes after the delay, and no call is made.
    let start = Instant::now();
    let err = with_fault("dependency=b;delay=300ms;abort=504")
        .scope(layer.layer(dependency.clone()).oneshot(Request::new(())))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(
        abort_of(&err),
        FaultAbort::HttpStatus(StatusCode::GATEWAY_TIMEOUT)
    );
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_above_cuts_a_delay_short_and_the_dependency_is_never_called() {
    let dependency = Dependency::default();
    let chaos = ChaosLayer::builder()
        .name("b")
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let svc = TimeoutLayer::new(Duration::from_millis(200))
        .expect("a valid timeout")
        .layer(chaos.layer(dependency.clone()));
    let start = Instant::now();
    let err = with_fault("dependency=b;delay=2s")
        .scope(svc.oneshot(Request::new(())))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(
        (rejected.reason(), rejected.was_sent()),
        (Reason::Timeout, true)
    );
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 0);
    assert_eq!(
        chaos.handle().active(),
        0,
        "a dropped delay gives its slot back"
    );
}

#[tokio::test(start_paused = true)]
async fn rated_latency_draws_from_its_distribution() {
    let layer = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.delay = Some(DelayConfig {
                percent: 100.0,
                latency: Latency::uniform(Duration::from_millis(100), Duration::from_millis(300)),
            });
            c.seed = Some(3);
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(Dependency::default());
    let mut total = Duration::ZERO;
    for _ in 0..1_000 {
        let start = Instant::now();
        svc.ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100) && took <= Duration::from_millis(300));
        total += took;
    }
    let mean = total / 1_000;
    assert!(
        mean > Duration::from_millis(190) && mean < Duration::from_millis(210),
        "{mean:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_active_fault_cap_holds_in_a_burst_of_10_000_requests() {
    let dependency = Dependency::default();
    let layer = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.delay = Some(DelayConfig {
                percent: 100.0,
                latency: Latency::fixed(Duration::from_secs(1)),
            });
            c.max_active = 100;
            c.seed = Some(1);
        })
        .build()
        .unwrap();
    let svc = layer.layer(dependency.clone());
    let tasks: Vec<_> = (0..10_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(Request::new(()))))
        .collect();
    // Everything not delayed has answered by now; 100 are still waiting.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(layer.handle().active(), 100);
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 9_900);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.delayed, stats.capped, stats.peak_active),
        (100, 9_900, 100)
    );
    assert_eq!(layer.handle().active(), 0);
    assert_eq!(dependency.calls.load(Ordering::Relaxed), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_under_real_concurrency() {
    let layer = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.delay = Some(DelayConfig {
                percent: 100.0,
                latency: Latency::fixed(Duration::from_millis(20)),
            });
            c.max_active = 32;
        })
        .build()
        .unwrap();
    let svc = layer.layer(Dependency::default());
    let tasks: Vec<_> = (0..10_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(Request::new(()))))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = layer.handle().stats();
    println!("{stats:?}");
    assert!(stats.peak_active <= 32, "{stats:?}");
    assert_eq!(stats.delayed + stats.capped, 10_000);
    assert!(stats.delayed >= 32);
    assert_eq!(layer.handle().active(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_layer_passes_everything() {
    let layer = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.abort = Some(AbortConfig {
                percent: 100.0,
                with: FaultAbort::Transport,
            })
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    handle.disable();
    assert_eq!(failures(&layer, 100).await.len(), 0);
    handle.enable();
    assert_eq!(failures(&layer, 100).await.len(), 100);
}

#[test]
fn builds_validate() {
    for bad in ["", "has space", "ünï"] {
        assert_eq!(
            ChaosLayer::builder().name(bad).build().unwrap_err().field(),
            "name"
        );
    }
    let err = ChaosLayer::builder()
        .name("b")
        .configure(|c| c.max_delay = Duration::from_secs(61))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_delay");
    let err = ChaosLayer::builder()
        .name("b")
        .configure(|c| c.max_active = 0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_active");
    let err = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.abort = Some(AbortConfig {
                percent: f64::NAN,
                with: FaultAbort::Transport,
            })
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "abort.percent");
    let err = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.abort = Some(AbortConfig {
                percent: 1.0,
                with: FaultAbort::HttpStatus(StatusCode::OK),
            })
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "abort.with");
    let err = ChaosLayer::builder()
        .name("b")
        .configure(|c| {
            c.delay = Some(DelayConfig {
                percent: 1.0,
                latency: Latency::fixed(Duration::from_secs(40)),
            })
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "delay.latency.delay");
}
