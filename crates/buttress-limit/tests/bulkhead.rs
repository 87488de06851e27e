//! The bulkhead's invariants, on tokio's paused clock.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected, RequestContext};
use buttress_limit::bulkhead::Global;
use buttress_limit::{BulkheadConfig, BulkheadLayer, QueueOrder};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready};
use tower::{Layer, Service, ServiceExt, service_fn};

type Req = http::Request<()>;

fn request(id: u32) -> Req {
    let mut req = http::Request::new(());
    req.extensions_mut().insert(id);
    req
}

fn reason(err: &BoxError) -> Reason {
    Rejected::find(&**err).expect("a rejection").reason()
}

/// Calls in flight and callers queued, read through the layer's handle.
fn gauges<R>(layer: &BulkheadLayer<Global, R>) -> (usize, usize) {
    let handle = layer.handle();
    (handle.in_flight(), handle.queued())
}

/// A service that sleeps `delay` per call and records the peak of calls
/// in flight at once.
fn counting(
    delay: Duration,
) -> (
    impl Service<Req, Response = u32, Error = Infallible, Future = impl Future + Send> + Clone + Send,
    Arc<AtomicUsize>,
) {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = peak.clone();
    let svc = service_fn(move |req: Req| {
        let now = now.clone();
        let peak = peak.clone();
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, Infallible>(req.extensions().get::<u32>().copied().unwrap_or(0))
        }
    });
    (svc, seen)
}

#[tokio::test(start_paused = true)]
async fn in_flight_never_exceeds_the_limit_among_10_000_callers() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 100;
            c.queue_capacity = 10_000;
            c.max_wait = Duration::from_secs(60);
        })
        .build()
        .unwrap();
    let (inner, peak) = counting(Duration::from_millis(1));
    let svc = layer.layer(inner);
    let tasks: Vec<_> = (0..10_000)
        .map(|i| tokio::spawn(svc.clone().oneshot(request(i))))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), i as u32);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 100);
    assert_eq!(layer.handle().in_flight(), 0);
    assert_eq!(layer.handle().queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn max_wait_zero_rejects_immediately() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::ZERO;
            c.retry_after = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(1));
    let mut svc = layer.layer(inner);
    let _held = svc.ready().await.unwrap().call(request(1));
    let start = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(request(2))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::BulkheadFull);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)));
    assert!(!rejected.was_sent());
    assert_eq!(layer.handle().queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_immediately() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 1;
            c.max_wait = Duration::from_secs(1);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);
    let _held = svc.ready().await.unwrap().call(request(1));
    let _queued = svc.ready().await.unwrap().call(request(2));
    assert_eq!(layer.handle().queued(), 1);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(request(3))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
}

#[tokio::test(start_paused = true)]
async fn waiters_time_out_at_their_max_wait() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_millis(50);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);
    let _held = tokio::spawn(svc.ready().await.unwrap().call(request(1)));
    tokio::task::yield_now().await;
    let start = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(request(2))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::QueueTimeout);
    assert!(!rejected.was_sent());
    assert_eq!(layer.handle().queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_time_out_earlier_at_their_deadline() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_millis(500);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);
    let _held = svc.ready().await.unwrap().call(request(1));

    // The deadline in the request's extensions.
    let start = Instant::now();
    let mut req = request(2);
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_millis(20)));
    let err = svc.ready().await.unwrap().call(req).await.unwrap_err();
    assert_eq!(reason(&err), Reason::QueueTimeout);
    assert_eq!(start.elapsed(), Duration::from_millis(20));

    // The deadline of the current task's context (a client call made
    // from a handler).
    let start = Instant::now();
    let ctx = RequestContext::new(start).with_deadline(start + Duration::from_millis(30));
    let err = ctx
        .scope(async { svc.ready().await.unwrap().call(request(3)).await })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::QueueTimeout);
    assert_eq!(start.elapsed(), Duration::from_millis(30));

    // A deadline already passed: no wait at all.
    let start = Instant::now();
    let mut req = request(4);
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start));
    let err = svc.ready().await.unwrap().call(req).await.unwrap_err();
    assert_eq!(reason(&err), Reason::QueueTimeout);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(layer.handle().queued(), 0);
}

/// Queues three calls behind a held slot and returns the order in which
/// the inner service saw them.
async fn served_order(order: QueueOrder) -> Vec<u32> {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_secs(1);
            c.order = order;
        })
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let mut svc = layer.layer(service_fn(move |req: Req| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push(*req.extensions().get::<u32>().unwrap());
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, Infallible>(())
        }
    }));
    let held = svc.ready().await.unwrap().call(request(0));
    let queued: Vec<_> = (1..=3)
        .map(|i| {
            let fut = svc.call(request(i));
            tokio::spawn(fut)
        })
        .collect();
    assert_eq!(layer.handle().queued(), 3);
    held.await.unwrap();
    for task in queued {
        task.await.unwrap().unwrap();
    }
    seen.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn fifo_serves_waiters_in_arrival_order() {
    assert_eq!(served_order(QueueOrder::Fifo).await, vec![0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn lifo_serves_the_newest_waiter_first() {
    assert_eq!(served_order(QueueOrder::Lifo).await, vec![0, 3, 2, 1]);
}

#[tokio::test(start_paused = true)]
async fn dropped_running_and_queued_futures_return_their_permits() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_secs(1);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);
    let mut running = tokio_test::task::spawn(svc.ready().await.unwrap().call(request(1)));
    assert_pending!(running.poll());
    let mut queued = tokio_test::task::spawn(svc.ready().await.unwrap().call(request(2)));
    assert_pending!(queued.poll());
    assert_eq!(gauges(&layer), (1, 1));

    drop(running);
    // The permit went straight to the waiter, which was woken.
    assert!(queued.is_woken());
    assert_eq!(gauges(&layer), (1, 0));
    drop(queued);
    assert_eq!(gauges(&layer), (0, 0));

    // A waiter granted a permit but dropped before it polled again.
    let running = svc.ready().await.unwrap().call(request(3));
    let queued = svc.ready().await.unwrap().call(request(4));
    drop(running);
    assert_eq!(gauges(&layer), (1, 0));
    drop(queued);
    assert_eq!(gauges(&layer), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_return_their_permits() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 2;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_secs(5);
        })
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let svc = layer.layer(inner);
    let calls: Vec<_> = (0..5)
        .map(|i| tokio::time::timeout(Duration::from_millis(100), svc.clone().oneshot(request(i))))
        .collect();
    for call in calls {
        assert!(tokio::spawn(call).await.unwrap().is_err(), "timed out");
    }
    assert_eq!(gauges(&layer), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn panicking_calls_return_their_permits() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 1;
            c.max_wait = Duration::from_secs(1);
        })
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|req: Req| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if req.extensions().get::<u32>() == Some(&1) {
            panic!("handler bug");
        }
        Ok::<_, Infallible>(())
    }));
    let panicking = tokio::spawn(svc.clone().oneshot(request(1)));
    let next = tokio::spawn(svc.clone().oneshot(request(2)));
    assert!(panicking.await.unwrap_err().is_panic());
    next.await.unwrap().unwrap();
    assert_eq!(gauges(&layer), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_and_return_the_permit() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Err::<(), _>(std::io::Error::other("reset"))
    }));
    let err = svc.oneshot(request(1)).await.unwrap_err();
    assert!(err.downcast_ref::<std::io::Error>().is_some());
    assert!(Rejected::find(&*err).is_none());
    assert_eq!(layer.handle().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_bulkheads_isolate() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 2;
            c.max_keys = 16;
        })
        .build_keyed(|req: &Req| {
            if req.uri().path().starts_with("/a") {
                "a"
            } else {
                "b"
            }
        })
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);
    let to = |path: &str| http::Request::get(path).body(()).unwrap();

    let _a1 = svc.ready().await.unwrap().call(to("/a/1"));
    let _a2 = svc.ready().await.unwrap().call(to("/a/2"));
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(to("/a/3"))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    assert_eq!(layer.handle().in_flight_of("a"), 2);

    // Key B admits at once, on a clone of the service too.
    let mut b = tokio_test::task::spawn(svc.clone().oneshot(to("/b/1")));
    assert_pending!(b.poll());
    assert_eq!(layer.handle().in_flight_of("b"), 1);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_ready!(b.poll()).unwrap();
    assert_eq!(layer.handle().in_flight_of("b"), 0);
    assert_eq!(layer.handle().tracked_keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn state_is_shared_by_clones_and_layer_calls() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(1));
    let mut first = layer.layer(inner.clone());
    let mut second = layer.clone().layer(inner);
    let _held = first.ready().await.unwrap().call(request(1));
    let err = second
        .ready()
        .await
        .unwrap()
        .call(request(2))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_only_passes_on_the_inner_readiness() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .build()
        .unwrap();
    let (mut svc, mut handle) = tower_test::mock::spawn_layer::<Req, (), _>(layer.clone());
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(2);
    assert_ready!(svc.poll_ready()).unwrap();
    let held = svc.call(request(1));
    // Full, yet still ready: the refusal comes from the response future.
    assert_ready!(svc.poll_ready()).unwrap();
    let err = svc.call(request(2)).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_response(());
    held.await.unwrap();
    assert_eq!(layer.handle().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn rejections_and_waits_are_reported() {
    let sink = RecordingSink::new();
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 1;
            c.max_wait = Duration::from_millis(10);
        })
        .name("payments")
        .sink(sink.clone())
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(1));
    let mut svc = layer.layer(inner);
    let _held = svc.ready().await.unwrap().call(request(1));
    let queued = svc.ready().await.unwrap().call(request(2));
    let full = svc.ready().await.unwrap().call(request(3));
    assert_eq!(reason(&full.await.unwrap_err()), Reason::BulkheadFull);
    assert_eq!(reason(&queued.await.unwrap_err()), Reason::QueueTimeout);
    let events = sink.events_for("payments");
    assert!(events.contains(&Event::Admitted));
    assert!(events.contains(&Event::Rejected(Reason::BulkheadFull)));
    assert!(events.contains(&Event::Rejected(Reason::QueueTimeout)));
    assert!(events.contains(&Event::Waited(Duration::from_millis(10))));
}

#[tokio::test(start_paused = true)]
async fn a_body_holds_its_permit_until_it_ends_or_drops() {
    use http_body_util::{BodyExt, Full};
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .build()
        .unwrap()
        .release_on_body_end();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from("body"))))
    }));
    let res = svc.clone().oneshot(request(1)).await.unwrap();
    let err = svc.clone().oneshot(request(2)).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    drop(res); // dropped before its end: permit returned
    let res = svc.clone().oneshot(request(3)).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "body");
    svc.oneshot(request(4)).await.unwrap();
}

#[test]
fn invalid_settings_are_refused() {
    let err = BulkheadLayer::builder()
        .configure(|c| {
            c.queue_capacity = 1;
            c.max_wait = Duration::from_secs(2 * 86_400);
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_wait");
    assert_eq!(
        BulkheadLayer::builder()
            .configure(|c| c.max_keys = 0)
            .build()
            .unwrap_err()
            .field(),
        "max_keys"
    );
}

#[test]
fn config_loads_from_data_with_human_durations() {
    let config: BulkheadConfig = serde_json::from_str(
        r#"{"name": "payments", "max_concurrent": 8, "queue_capacity": 16, "max_wait": "250ms", "order": "lifo"}"#,
    )
    .unwrap();
    assert_eq!(config.max_wait, Duration::from_millis(250));
    assert_eq!(config.order, QueueOrder::Lifo);
    assert_eq!(config.retry_after, Duration::from_secs(1));
    assert_eq!(config.name.as_deref(), Some("payments"));
    let layer = BulkheadLayer::from_config(&config).unwrap();
    assert_eq!(layer.handle().config().max_concurrent, 8);
    assert_eq!(layer.handle().id().name(), "payments");
    assert!(serde_json::from_str::<BulkheadConfig>(r#"{"max_concurent": 8}"#).is_err());
}

#[test]
fn the_name_is_the_configs_else_the_environments_else_the_kind() {
    let sink = RecordingSink::new();
    let env = BuildEnv::named("checkout").with_sink(sink.clone());

    let own = BulkheadLayer::builder()
        .name("payments")
        .env(env.clone())
        .build()
        .unwrap();
    assert_eq!(own.handle().id().name(), "payments");
    assert_eq!(own.handle().id().kind(), LayerKind::Bulkhead);

    let from_env = BulkheadConfig::default().build_in(&env).unwrap();
    assert_eq!(from_env.handle().id().name(), "checkout");

    let bare = BulkheadLayer::from_config(&BulkheadConfig::default()).unwrap();
    assert_eq!(bare.handle().id().name(), "bulkhead");
    assert_eq!(bare.handle().config(), BulkheadConfig::default());

    // An empty name is a mistake, not "no name".
    let err = BulkheadLayer::builder().name("").build().unwrap_err();
    assert_eq!(err.field(), "name");
}

#[tokio::test(start_paused = true)]
async fn a_stack_environment_sink_receives_the_events() {
    let sink = RecordingSink::new();
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .env(BuildEnv::named("orders").with_sink(sink.clone()))
        .build()
        .unwrap();
    let (inner, _) = counting(Duration::from_millis(1));
    layer.layer(inner).oneshot(request(1)).await.unwrap();
    assert!(sink.events_for("orders").contains(&Event::Admitted));
}

#[tokio::test(start_paused = true)]
async fn the_keyed_handle_reads_each_key_and_names_the_layer() {
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 1;
            c.queue_capacity = 4;
            c.max_wait = Duration::from_secs(1);
        })
        .name("tenants")
        .build_keyed(|req: &Req| req.uri().path().to_owned())
        .unwrap();
    let handle = layer.handle();
    assert_eq!(handle.id().name(), "tenants");
    assert_eq!(handle.max_concurrent(), 1);
    let (inner, _) = counting(Duration::from_secs(1));
    let mut svc = layer.layer(inner);
    let to = |path: &str| http::Request::get(path).body(()).unwrap();
    let _held = svc.ready().await.unwrap().call(to("/a"));
    let _queued = svc.ready().await.unwrap().call(to("/a"));
    assert_eq!((handle.in_flight_of("/a"), handle.queued_of("/a")), (1, 1));
    assert_eq!((handle.in_flight_of("/b"), handle.queued_of("/b")), (0, 0));
    assert_eq!(handle.tracked_keys(), 1);
    let copy = handle.clone();
    assert_eq!(copy.in_flight_of("/a"), 1);
    assert!(format!("{handle:?}").contains("tenants"));
}

/// A keyed bulkhead by path, `max_keys` 16, its other settings `change`d.
fn per_path(change: impl FnOnce(&mut BulkheadConfig)) -> BulkheadLayer<PerPath> {
    BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 2;
            c.max_keys = 16;
            change(c);
        })
        .name("tenants")
        .build_keyed(path_of as fn(&Req) -> String)
        .unwrap()
}

type PerPath = buttress_limit::bulkhead::PerKey<fn(&Req) -> String, String>;

fn path_of(req: &Req) -> String {
    req.uri().path().to_owned()
}

fn to(path: &str) -> Req {
    http::Request::get(path).body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn calls_held_open_on_many_keys_leave_room_for_a_new_key_until_the_total_cap() {
    // A cap no higher than `max_keys`: every key gets a bulkhead of its own.
    let layer = per_path(|c| c.max_total = Some(16));
    let handle = layer.handle();
    assert_eq!(handle.max_total(), 16);
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);

    // Fifteen keys each hold a call open: every one of them is busy, and
    // the map has one slot left, which a new tenant gets.
    let mut held: Vec<_> = (0..15)
        .map(|i| tokio_test::task::spawn(svc.clone().oneshot(to(&format!("/held/{i}")))))
        .collect();
    for call in &mut held {
        assert_pending!(call.poll());
    }
    assert_eq!(handle.total(), 15);
    let mut tenant = tokio_test::task::spawn(svc.clone().oneshot(to("/tenant")));
    assert_pending!(tenant.poll());
    assert_eq!(handle.in_flight_of("/tenant"), 1);
    assert_eq!(handle.total(), 16);

    // At the cap, every call is refused at once — a new key, and a key
    // with a free slot of its own alike — with the bulkhead's rejection.
    for path in ["/another", "/held/0"] {
        let err = svc.ready().await.unwrap().call(to(path)).await.unwrap_err();
        assert_eq!(reason(&err), Reason::BulkheadFull);
        assert_eq!(
            Rejected::find(&*err).unwrap().retry_after(),
            Some(Duration::from_secs(1))
        );
    }
    assert_eq!(handle.total(), 16);

    // One call ends: room for one more, on any key.
    drop(held.pop());
    assert_eq!(handle.total(), 15);
    let mut another = tokio_test::task::spawn(svc.clone().oneshot(to("/another")));
    assert_pending!(another.poll());
    assert_eq!(handle.in_flight_of("/another"), 1);

    tokio::time::advance(Duration::from_secs(10)).await;
    for mut call in held.into_iter().chain([tenant, another]) {
        assert_ready!(call.poll()).unwrap();
    }
    assert_eq!(handle.total(), 0);
    assert!(handle.tracked_keys() <= 16);
}

#[tokio::test(start_paused = true)]
async fn the_total_counts_queued_callers_and_gives_every_place_back() {
    let layer = per_path(|c| {
        c.max_concurrent = 1;
        c.queue_capacity = 4;
        c.max_wait = Duration::from_secs(1);
        c.max_total = Some(4);
    });
    let handle = layer.handle();
    let (inner, _) = counting(Duration::from_secs(5));
    let mut svc = layer.layer(inner);

    let mut running = tokio_test::task::spawn(svc.clone().oneshot(to("/a")));
    assert_pending!(running.poll());
    let mut expires = tokio_test::task::spawn(svc.clone().oneshot(to("/a")));
    assert_pending!(expires.poll());
    let mut abandoned = tokio_test::task::spawn(svc.clone().oneshot(to("/a")));
    assert_pending!(abandoned.poll());
    let mut other = tokio_test::task::spawn(svc.clone().oneshot(to("/b")));
    assert_pending!(other.poll());
    assert_eq!((handle.in_flight_of("/a"), handle.queued_of("/a")), (1, 2));
    assert_eq!(handle.total(), 4);
    let err = svc.ready().await.unwrap().call(to("/c")).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);

    // A caller that gives up while queued gives its place back.
    drop(abandoned);
    assert_eq!(handle.total(), 3);
    // So does one whose wait runs out.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        reason(&assert_ready!(expires.poll()).unwrap_err()),
        Reason::QueueTimeout
    );
    assert_eq!(handle.total(), 2);

    // A waiter granted its slot and dropped before it ran gives it back too.
    let mut granted = tokio_test::task::spawn(svc.clone().oneshot(to("/b")));
    assert_pending!(granted.poll());
    assert_eq!(handle.total(), 3);
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_ready!(running.poll()).unwrap();
    assert_ready!(other.poll()).unwrap(); // hands `/b`'s slot to `granted`
    assert_eq!(handle.in_flight_of("/b"), 1);
    drop(granted);
    assert_eq!((handle.in_flight_of("/b"), handle.total()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_keyed_body_holds_its_place_until_it_ends() {
    use http_body_util::{BodyExt, Full};
    let layer = per_path(|c| c.max_total = Some(1)).release_on_body_end();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from("body"))))
    }));
    let res = svc.clone().oneshot(to("/a")).await.unwrap();
    assert_eq!((handle.in_flight_of("/a"), handle.total()), (1, 1));
    let err = svc.clone().oneshot(to("/b")).await.unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "body");
    assert_eq!((handle.in_flight_of("/a"), handle.total()), (0, 0));
    svc.oneshot(to("/b")).await.unwrap();
    assert_eq!(handle.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_calls_report_how_they_ended_once() {
    let sink = RecordingSink::new();
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .name("tenants")
        .sink(sink.clone())
        .build_keyed(path_of)
        .unwrap();
    let (inner, _) = counting(Duration::from_secs(1));
    let mut svc = layer.layer(inner);
    svc.ready().await.unwrap().call(to("/a")).await.unwrap();
    let cancelled = svc.ready().await.unwrap().call(to("/a"));
    let mut cancelled = tokio_test::task::spawn(cancelled);
    assert_pending!(cancelled.poll());
    drop(cancelled);
    let completed = |outcome| {
        sink.count(|id, e| {
            id.name() == "tenants"
                && *e
                    == Event::Completed {
                        outcome,
                        duration: Duration::ZERO,
                    }
        })
    };
    assert_eq!(completed(buttress_core::Outcome::Success), 1);
    assert_eq!(completed(buttress_core::Outcome::Cancelled), 1);
    assert_eq!(sink.count(|_, e| *e == Event::Admitted), 2);
    assert_eq!(layer.handle().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn once_every_tracked_key_is_busy_new_keys_share_what_the_cap_leaves() {
    // The default cap: 16 keys × 2 calls.
    let layer = per_path(|_| {});
    let handle = layer.handle();
    assert_eq!(handle.max_total(), 32);
    let (inner, _) = counting(Duration::from_secs(10));
    let mut svc = layer.layer(inner);

    // Sixteen keys hold a call each: the map is full of busy keys.
    let held: Vec<_> = (0..16)
        .map(|i| svc.clone().oneshot(to(&format!("/held/{i}"))))
        .map(tokio_test::task::spawn)
        .map(|mut call| {
            assert_pending!(call.poll());
            call
        })
        .collect();
    assert_eq!((handle.tracked_keys(), handle.total()), (16, 16));

    // New keys are admitted all the same, up to the cap, and no further.
    let mut newcomers = Vec::new();
    for i in 0..16 {
        let mut call = tokio_test::task::spawn(svc.clone().oneshot(to(&format!("/new/{i}"))));
        assert_pending!(call.poll());
        newcomers.push(call);
    }
    assert_eq!(handle.total(), 32);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(to("/late"))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::BulkheadFull);

    drop(held);
    drop(newcomers);
    assert_eq!(handle.total(), 0);
    // Idle keys make room again (once the map's back-off from sweeping a
    // map full of busy keys has lapsed).
    tokio::time::advance(Duration::from_secs(1)).await;
    let _late = svc.ready().await.unwrap().call(to("/late"));
    assert_eq!(handle.in_flight_of("/late"), 1, "a bulkhead of its own");
}

#[test]
fn the_total_cap_is_at_least_one() {
    let err = BulkheadLayer::builder()
        .configure(|c| c.max_total = Some(0))
        .build_keyed(path_of)
        .unwrap_err();
    assert_eq!(err.to_string(), "max_total: must be at least 1");
    // Above `max_keys` is allowed: new keys then share the overflow.
    let layer = BulkheadLayer::builder()
        .configure(|c| {
            c.max_keys = 8;
            c.max_total = Some(100);
        })
        .build_keyed(path_of)
        .unwrap();
    assert_eq!(layer.handle().max_total(), 100);
}
