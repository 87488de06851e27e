//! What the request path allocates, measured by a counting global
//! allocator: nothing when a permit is free; one box for a rejection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buttress_core::layer::LayerBuilder;
use buttress_limit::BulkheadLayer;
use buttress_limit::adaptive::AdaptiveLimitLayer;
use tower::{Layer, Service};

type Req = http::Request<()>;

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

fn requests(n: usize) -> Vec<Req> {
    (0..n).map(|_| http::Request::new(())).collect()
}

/// Polls a future that is ready at once.
fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

/// `ready` + `call`, as a server holding one instance does.
fn ready_call<S: Service<Req>>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => now(svc.call(req)),
        _ => panic!("not ready"),
    }
}

/// An HTTP service answering at once (an empty `Response` allocates
/// nothing), so the adaptive limit's default classifier judges it.
fn bare() -> impl Service<
    Req,
    Response = http::Response<()>,
    Error = Infallible,
    Future = std::future::Ready<Result<http::Response<()>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: Req| std::future::ready(Ok::<_, Infallible>(http::Response::new(()))))
}

#[test]
fn a_bulkhead_with_free_permits_allocates_nothing() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 8)
        .build()
        .unwrap();
    let mut svc = layer.layer(bare());
    ready_call(&mut svc, http::Request::new(())).unwrap();
    let reqs = requests(1_000);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc, req).unwrap();
        }
    });
    assert_eq!(count, 0);
    assert_eq!(layer.handle().in_flight(), 0);
}

#[test]
fn a_keyed_bulkhead_allocates_nothing_for_a_known_key() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 8)
        .build_keyed(|req: &Req| {
            if req.method() == http::Method::GET {
                "read"
            } else {
                "write"
            }
        })
        .unwrap();
    let mut svc = layer.layer(bare());
    ready_call(&mut svc, http::Request::new(())).unwrap();
    let reqs = requests(1_000);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc, req).unwrap();
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn a_bulkhead_rejection_allocates_one_box() {
    let layer = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1)
        .build()
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Req| {
        std::future::pending::<Result<(), Infallible>>()
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let _ = svc.poll_ready(&mut cx);
    let held = svc.call(http::Request::new(()));
    let mut reqs = requests(1);
    let req = reqs.pop().unwrap();
    let mut err = None;
    let count = allocations(|| {
        err = Some(ready_call(&mut svc, req).unwrap_err());
    });
    assert_eq!(count, 1);
    drop((held, err));
}

#[test]
fn an_adaptive_limit_with_free_permits_allocates_nothing() {
    let layer = AdaptiveLimitLayer::builder().build().unwrap();
    let mut svc = layer.layer(bare());
    ready_call(&mut svc, http::Request::new(())).unwrap();
    let reqs = requests(1_000);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc, req).unwrap();
        }
    });
    assert_eq!(count, 0);
    assert_eq!(layer.handle().in_flight(), 0);
}

#[test]
fn the_oneshot_shape_allocates_nothing_either() {
    let bulkhead = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 8)
        .build()
        .unwrap();
    let adaptive = AdaptiveLimitLayer::builder().build().unwrap();
    let svc = adaptive.layer(bulkhead.layer(bare()));
    let reqs = requests(1_000);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc.clone(), req).unwrap();
        }
    });
    assert_eq!(count, 0);
}
