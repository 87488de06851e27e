//! What the shedder's request path allocates, measured by a counting
//! global allocator: nothing while not shedding, with each built-in
//! signal; one box for a rejection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress_limit::shed::{LoadShedLayer, ShedConfig, ShedSignalConfig};
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<()>;

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

fn bare() -> impl Service<
    Req,
    Response = (),
    Error = Infallible,
    Future = std::future::Ready<Result<(), Infallible>>,
> + Clone {
    tower::service_fn(|_req: Req| std::future::ready(Ok::<_, Infallible>(())))
}

/// A layer shedding on `signal`, the other settings left at their defaults.
fn shedding_on(signal: ShedSignalConfig) -> LoadShedLayer {
    LoadShedLayer::from_config(&ShedConfig {
        signal,
        ..ShedConfig::default()
    })
    .unwrap()
}

fn calls_allocate(layer: LoadShedLayer) -> u64 {
    let mut svc = layer.layer(bare());
    let reqs: Vec<Req> = (0..2_000).map(|_| Req::new(())).collect();
    let mut cx = Context::from_waker(Waker::noop());
    let _ = svc.poll_ready(&mut cx);
    now(svc.call(Req::new(()))).unwrap();
    let count = allocation_counter::measure(|| {
        for (i, req) in reqs.into_iter().enumerate() {
            if i % 2 == 0 {
                assert!(svc.poll_ready(&mut cx).is_ready());
                now(svc.call(req)).unwrap();
            } else {
                now(svc.clone().oneshot(req)).unwrap();
            }
        }
    })
    .count_total;
    assert_eq!(layer.handle().in_flight(), 0);
    assert_eq!(layer.handle().shedding(), None);
    count
}

#[tokio::test]
async fn not_shedding_allocates_nothing_with_the_in_flight_signal() {
    let layer = shedding_on(ShedSignalConfig::InFlight { high: 100, low: 80 });
    assert_eq!(calls_allocate(layer), 0);
}

#[tokio::test]
async fn not_shedding_allocates_nothing_with_the_queue_delay_signal() {
    let layer = shedding_on(ShedSignalConfig::QueueDelay {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(100),
    });
    assert_eq!(calls_allocate(layer), 0);
}

#[tokio::test]
async fn not_shedding_allocates_nothing_with_the_latency_signal() {
    let layer = shedding_on(ShedSignalConfig::Latency {
        target: Duration::from_millis(100),
        relief: Duration::from_millis(50),
        window: Duration::from_millis(10),
    });
    assert_eq!(calls_allocate(layer), 0);
}

#[tokio::test]
async fn a_shed_request_allocates_one_box() {
    let layer = shedding_on(ShedSignalConfig::InFlight { high: 1, low: 0 });
    let mut svc = layer.layer(bare());
    let mut sheddable = Req::new(());
    sheddable.extensions_mut().insert(
        buttress_core::RequestContext::starting_now()
            .with_criticality(buttress_core::Criticality::Sheddable),
    );
    let mut cx = Context::from_waker(Waker::noop());
    let _ = svc.poll_ready(&mut cx);
    let _held = svc.call(Req::new(()));
    let info = allocation_counter::measure(|| {
        assert!(now(svc.call(sheddable)).is_err());
    });
    assert_eq!(info.count_total, 1);
}
