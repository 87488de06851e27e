//! What the throttle's request path allocates: nothing while not
//! rejecting; one box for a rejection.
//!
//! The services here answer `()`, not HTTP, so the throttle judges them
//! with `AnyErrorFails`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buttress_core::classify::AnyErrorFails;
use buttress_core::layer::LayerBuilder;
use buttress_limit::throttle::ThrottleLayer;
use tower::{Layer, Service, ServiceExt};

type Req = http::Request<()>;

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

#[tokio::test]
async fn not_rejecting_allocates_nothing() {
    let layer = ThrottleLayer::builder()
        .configure(|c| c.seed = Some(1))
        .classifier(AnyErrorFails)
        .build()
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Req| {
        std::future::ready(Ok::<_, Infallible>(()))
    }));
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
    assert_eq!(count, 0);
    assert_eq!(layer.handle().counts(), (2_001, 2_001));
}

#[tokio::test]
async fn a_throttled_request_allocates_one_box() {
    let layer = ThrottleLayer::builder()
        .configure(|c| {
            c.seed = Some(1);
            c.max_probability = 1.0;
        })
        .classifier(AnyErrorFails)
        .build()
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Req| {
        std::future::ready(Err::<(), _>(std::io::Error::other("refused")))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        let _ = svc.poll_ready(&mut cx);
        let _ = now(svc.call(Req::new(())));
    }
    let mut throttled = 0;
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            let err = now(svc.call(Req::new(()))).unwrap_err();
            if buttress_core::Rejected::find(&*err).is_some() {
                throttled += 1;
            }
        }
    });
    // Every call allocates one box: a throttled call its rejection, a sent
    // one the inner error boxed into `BoxError`.
    assert_eq!(info.count_total, 100);
    assert!(throttled > 90, "{throttled}");
}
