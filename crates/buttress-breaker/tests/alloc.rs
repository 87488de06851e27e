//! The call path allocates nothing while closed and once (the boxed
//! `Rejected`) when it rejects — measured by a counting global allocator.

use buttress_core::layer::LayerBuilder;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress_breaker::{CircuitBreakerLayer, SlowCallConfig, WindowConfig};
use buttress_core::telemetry::RecordingSink;
use http::{Request, Response};
use tower::{Layer, Service};

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the test service answers at once"),
    }
}

fn answer(
    status: u16,
) -> impl Service<Request<()>, Response = Response<()>, Error = std::convert::Infallible> + Clone {
    tower::service_fn(move |_: Request<()>| {
        std::future::ready(Ok(Response::builder().status(status).body(()).unwrap()))
    })
}

fn call<S>(svc: &mut S) -> Result<Response<()>, buttress_core::BoxError>
where
    S: Service<Request<()>, Response = Response<()>, Error = buttress_core::BoxError>,
{
    ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    ready(svc.call(Request::new(())))
}

#[test]
fn a_closed_call_allocates_nothing_in_any_window() {
    let sink = RecordingSink::with_capacity(100_000);
    let builders = [
        CircuitBreakerLayer::builder()
            .configure(|c| c.window = WindowConfig::Count { size: 100 })
            .name("count"),
        CircuitBreakerLayer::builder()
            .configure(|c| {
                c.window = WindowConfig::Count { size: 100 };
                c.slow_calls = Some(SlowCallConfig {
                    threshold: Duration::from_secs(1),
                    rate: 50.0,
                });
            })
            .name("slow"),
        CircuitBreakerLayer::builder()
            .configure(|c| {
                c.window = WindowConfig::Time {
                    duration: Duration::from_secs(10),
                    buckets: 10,
                }
            })
            .name("time"),
    ];
    for builder in builders {
        let layer = builder.sink(sink.clone()).build().unwrap();
        let mut svc = layer.layer(answer(200));
        // The response is built by the test service; measure around it.
        let responses: Vec<_> = (0..1_000).map(|_| ()).collect();
        let mut bare = answer(200);
        let bare_count = allocations(|| {
            for _ in &responses {
                ready(std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
                ready(bare.call(Request::new(()))).unwrap();
            }
        });
        let breaker_count = allocations(|| {
            for _ in &responses {
                call(&mut svc).unwrap();
            }
        });
        assert_eq!(bare_count, 0, "the test service itself allocates nothing");
        assert_eq!(breaker_count, 0, "{layer:?}");
        // A closed call through a failing dependency allocates nothing
        // either.
        let mut failing = layer.layer(answer(500));
        let failing_count = allocations(|| {
            for _ in 0..5 {
                call(&mut failing).unwrap();
            }
        });
        let mut bare_failing = answer(500);
        let bare_failing_count = allocations(|| {
            for _ in 0..5 {
                ready(std::future::poll_fn(|cx| bare_failing.poll_ready(cx))).unwrap();
                ready(bare_failing.call(Request::new(()))).unwrap();
            }
        });
        assert_eq!((failing_count, bare_failing_count), (0, 0));
    }
}

#[test]
fn an_open_rejection_allocates_once() {
    let layer = CircuitBreakerLayer::builder()
        .name("open")
        .sink(RecordingSink::with_capacity(10_000))
        .build()
        .unwrap();
    layer.handle().force_open();
    let mut svc = layer.layer(answer(200));
    // Warm up the thread's lane.
    drop(call(&mut svc));
    let count = allocations(|| {
        let err = call(&mut svc).unwrap_err();
        drop(err);
    });
    assert_eq!(count, 1);
}

#[test]
fn a_call_judged_at_its_body_end_allocates_nothing() {
    use bytes::Bytes;
    use http_body::Body;
    use http_body_util::Full;

    let layer = CircuitBreakerLayer::builder()
        .name("body-end")
        .sink(RecordingSink::with_capacity(10_000))
        .build()
        .unwrap()
        .judge_on_body_end();
    let handle = layer.handle();
    let mut svc = layer.layer(tower::service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(Response::new(Full::new(
            Bytes::from_static(b"whole"),
        ))))
    }));
    // Warm up the thread's lane.
    let warm = ready(svc.call(Request::new(()))).unwrap();
    drop(warm);
    let count = allocations(|| {
        for _ in 0..100 {
            ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            let response = ready(svc.call(Request::new(()))).unwrap();
            let mut body = pin!(response.into_body());
            while let Poll::Ready(Some(frame)) = body
                .as_mut()
                .poll_frame(&mut Context::from_waker(Waker::noop()))
            {
                frame.unwrap();
            }
        }
    });
    assert_eq!(count, 0);
    assert_eq!(handle.stats().failures, 0);
}
