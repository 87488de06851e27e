//! What the server layer allocates per request, counted by a counting
//! global allocator and named piece by piece: the context layer
//! allocates only what `http` itself needs to echo the ID, and keeps no
//! copy of the context in the request's extensions.

#[path = "../../buttress-core/tests/support/shapes.rs"]
mod shapes;

use buttress_context::ServerContextLayer;
use buttress_context::id::{MakeCorrelationId, UuidV7};
use buttress_core::TrustPolicy;
use http::{HeaderValue, Response};
use shapes::{Bare, Wire, oneshot, ready_call};
use tower::Layer;

fn count(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

/// The pieces, each measured alone.
struct Pieces {
    /// The first header inserted into a response with no headers: the
    /// `HeaderMap`'s index table and its entry vector.
    response_header: u64,
    /// A generated UUID's 36 bytes (shared by every later clone).
    generated_id: u64,
}

fn pieces() -> Pieces {
    let mut res = Response::new(());
    let value = HeaderValue::from_static("abc");
    let response_header = count(|| {
        res.headers_mut()
            .insert(buttress_context::headers::X_REQUEST_ID, value);
    });
    let generated_id = count(|| {
        std::hint::black_box(UuidV7.make_id());
    });
    Pieces {
        response_header,
        generated_id,
    }
}

#[test]
fn each_allocation_is_named() {
    let p = pieces();
    println!(
        "response header {}, generated id {}",
        p.response_header, p.generated_id
    );
    assert_eq!(p.response_header, 2);
    assert_eq!(p.generated_id, 1);

    let wire = Wire::new();
    let bare = Bare;
    let accepted = ServerContextLayer::internal(TrustPolicy::always()).layer(Bare);
    let generated = ServerContextLayer::public().layer(Bare);

    // Warm up once: a callsite's first use may register it.
    let _ = ready_call(&mut accepted.clone(), wire.request(()));
    let _ = ready_call(&mut generated.clone(), wire.request(()));

    let measure = |svc: &dyn Fn(http::Request<()>) -> Response<()>| {
        let req = wire.request(());
        count(|| {
            std::hint::black_box(svc(req));
        })
    };
    let bare_count = measure(&|req| ready_call(&mut { bare }, req));
    let accepted_count = measure(&|req| ready_call(&mut accepted.clone(), req));
    let generated_count = measure(&|req| ready_call(&mut generated.clone(), req));
    let accepted_oneshot = measure(&|req| oneshot(&accepted, req));

    println!(
        "bare {bare_count}, accepted {accepted_count}, generated {generated_count}, accepted oneshot {accepted_oneshot}"
    );
    assert_eq!(bare_count, 0);
    // Accepted ID: the response header (2), nothing else — a copy of the
    // context in the request's extensions would add the map's box, its
    // table and the boxed value.
    assert_eq!(accepted_count, p.response_header);
    assert!(accepted_count <= 2);
    // Generated ID: the same plus the ID's bytes.
    assert_eq!(generated_count, accepted_count + p.generated_id);
    assert_eq!(accepted_oneshot, accepted_count);
}
