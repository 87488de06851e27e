//! Once a label combination has been seen, recording a request through
//! the RED layer allocates nothing — server or client, HTTP or gRPC —
//! measured by a counting global allocator against the bare service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buttress_core::layer::LayerBuilder;
use buttress_metrics::{RedLayer, RedSide};
use http::{Request, Response};
use tower::{Layer, Service};

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

fn answer() -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone {
    tower::service_fn(|_: Request<()>| std::future::ready(Ok(Response::new(()))))
}

/// Requests to `uri`, gRPC-typed if `grpc`, built before any measuring.
fn requests(uri: &'static str, grpc: bool) -> Vec<Request<()>> {
    (0..1_000)
        .map(|_| {
            let mut request = Request::post(http::Uri::from_static(uri));
            if grpc {
                request = request.header("content-type", "application/grpc");
            }
            request.body(()).unwrap()
        })
        .collect()
}

/// Allocations for sending `requests` through `svc`, responses dropped.
fn allocations<S>(svc: &mut S, requests: Vec<Request<()>>) -> u64
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    allocation_counter::measure(|| {
        for request in requests {
            ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            drop(ready(svc.call(request)).unwrap());
        }
    })
    .count_total
}

#[test]
fn a_seen_combination_records_without_allocating() {
    for (side, uri, grpc) in [
        (RedSide::Server, "/orders", false),
        (RedSide::Server, "/shop.Orders/Get", true),
        (RedSide::Client, "http://inventory:8080/items", false),
        (RedSide::Client, "http://orders:50051/shop.Orders/Get", true),
    ] {
        let red = RedLayer::builder()
            .configure(|c| c.side = side)
            .name("alloc")
            .build()
            .unwrap();
        let mut svc = red.layer(answer());
        // The first requests resolve the handles and (for gRPC) earn the
        // method its label.
        allocations(&mut svc, requests(uri, grpc));
        let bare = allocations(&mut answer(), requests(uri, grpc));
        let red = allocations(&mut svc, requests(uri, grpc));
        assert_eq!(red, bare, "{side:?} {uri} grpc={grpc}");
    }
}
