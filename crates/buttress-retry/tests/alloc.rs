//! The no-retry path allocates nothing for `http::Request<()>` (issue 7:
//! a layer allocates nothing per request on its common path), budget
//! bookkeeping and telemetry included;
//! measured by a counting global allocator. Also measures, and bounds, what
//! keeping a replay copy of the eight-header request costs.

#[path = "../../buttress-core/tests/support/shapes.rs"]
mod shapes;

use buttress_core::layer::LayerBuilder;
use buttress_core::telemetry::RecordingSink;
use buttress_retry::RetryLayer;
use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use shapes::{Bare, Wire, oneshot, ready_call};
use tower::Layer;

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

const CALLS: usize = 1_000;

#[test]
fn the_no_retry_path_allocates_nothing_for_a_bodyless_request() {
    let sink = RecordingSink::with_capacity(4 * CALLS);
    let layer = RetryLayer::builder()
        .sink(sink.clone())
        .clone_requests()
        .build()
        .unwrap();
    let mut svc = layer.layer(Bare);
    // Warm up thread-locals (the clock's runtime lookup) first.
    ready_call(&mut svc, Request::new(()));
    oneshot(&svc, Request::new(()));

    let count = allocations(|| {
        for _ in 0..CALLS {
            assert_eq!(ready_call(&mut svc, Request::new(())).status(), 200);
            assert_eq!(oneshot(&svc, Request::new(())).status(), 200);
        }
    });
    assert_eq!(count, 0);
    assert!(!sink.events().is_empty(), "telemetry was reported");
}

#[test]
fn an_empty_streaming_body_allocates_nothing_either() {
    let layer = RetryLayer::builder().build().unwrap();
    let mut svc = layer.layer(Bare);
    ready_call(&mut svc, Request::new(Empty::<Bytes>::new()));
    let count = allocations(|| {
        for _ in 0..CALLS {
            ready_call(&mut svc, Request::new(Empty::<Bytes>::new()));
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn the_replay_copy_of_the_eight_header_request_costs_one_allocation_by_default() {
    let wire = Wire::new();
    let layer = RetryLayer::builder().clone_requests().build().unwrap();
    let mut svc = layer.layer(Bare);
    ready_call(&mut svc, wire.request(()));

    let requests: Vec<_> = (0..CALLS).map(|_| wire.request(())).collect();
    let bare_requests: Vec<_> = (0..CALLS).map(|_| wire.request(())).collect();
    let with_retry = allocations(|| {
        for req in requests {
            ready_call(&mut svc, req);
        }
    });
    let mut bare = Bare;
    let without = allocations(|| {
        for req in bare_requests {
            ready_call(&mut bare, req);
        }
    });
    let per_call = (with_retry - without) as f64 / CALLS as f64;
    println!("CloneRequest, eight headers: {per_call} allocations per call");
    // `Request::clone`: the header map's two tables, plus one per custom
    // header name (two here: x-request-id, traceparent) whose bytes are
    // shared on first clone.
    assert!(per_call <= 4.0, "{per_call}");

    // The same shape under `BufferBody` (the default), body empty.
    let layer = RetryLayer::builder().build().unwrap();
    let mut svc = layer.layer(Bare);
    let requests: Vec<_> = (0..CALLS)
        .map(|_| wire.request(Empty::<Bytes>::new()))
        .collect();
    let buffered = allocations(|| {
        for req in requests {
            ready_call(&mut svc, req);
        }
    });
    let per_call = buffered as f64 / CALLS as f64;
    println!("BufferBody, eight headers, empty body: {per_call} allocations per call");
    // The headers kept in one buffer (names included).
    assert!(per_call <= 1.0, "{per_call}");

    // Values built from text, as a client builds them (`HeaderValue::
    // from_str`): cloning each would make its bytes shared, one
    // allocation apiece; copied into the buffer, still one in all.
    let requests: Vec<_> = (0..CALLS)
        .map(|_| from_text(wire.request(Empty::<Bytes>::new())))
        .collect();
    let bare_requests: Vec<_> = (0..CALLS)
        .map(|_| from_text(wire.request(Empty::<Bytes>::new())))
        .collect();
    let buffered = allocations(|| {
        for req in requests {
            ready_call(&mut svc, req);
        }
    });
    let without = allocations(|| {
        for req in bare_requests {
            ready_call(&mut bare, req);
        }
    });
    let per_call = (buffered - without) as f64 / CALLS as f64;
    println!("BufferBody, eight headers from text, empty body: {per_call} allocations per call");
    assert!(per_call <= 1.0, "{per_call}");
}

/// `request` with every value rebuilt from its text (a buffer of its own).
fn from_text<B>(mut request: Request<B>) -> Request<B> {
    for value in request.headers_mut().values_mut() {
        *value = http::HeaderValue::from_bytes(value.as_bytes()).unwrap();
    }
    request
}

#[test]
fn the_response_future_stays_small() {
    // Callers move the future by value (oneshot, hyper, axum): what only a
    // retry needs is boxed on the retry path, so the future holds the inner
    // future, the replay copy and a few words.
    use tower::Service;
    let mut svc = RetryLayer::builder()
        .clone_requests()
        .build()
        .unwrap()
        .layer(Bare);
    let future = svc.call(Request::new(()));
    let inner = std::mem::size_of::<<Bare as Service<Request<()>>>::Future>();
    let copy = std::mem::size_of::<Request<()>>();
    let size = std::mem::size_of_val(&future);
    println!(
        "future {size} bytes = inner {inner} + copy {copy} + {}",
        size - inner - copy
    );
    assert!(size <= inner + copy + 96, "{size}");
}
