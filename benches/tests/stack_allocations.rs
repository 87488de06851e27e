//! Allocations per request of each ready-made stack, against tower's
//! equivalent stack in the same run (`benches/stack/variants.rs`: tower's
//! server stack is tower-http's request-ID pair, `LoadShed`,
//! `ConcurrencyLimit` and `Timeout`; its client stack `Retry` with a TPS
//! budget, `ConcurrencyLimit` and `Timeout`). A request both shapes of
//! the bench send: an empty one, and an eight-header one.
//!
//! Runs with the counting allocator (feature `count-allocations`, on in
//! `cargo test --workspace --all-features`).

#![cfg(feature = "count-allocations")]

#[path = "../stack/variants.rs"]
#[allow(dead_code)]
mod variants;

use std::collections::BTreeMap;

use buttress_benches::{allocations_per_call, ready_call, realistic_request};
use http::Request;
use tower::Service;

/// Allocations per `ready` + `call` of each stack, per request shape.
#[derive(Default)]
struct Count(BTreeMap<(String, &'static str), f64>);

impl variants::Visit for Count {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        for (shape, realistic) in [("empty", false), ("realistic", true)] {
            let mut svc = svc.clone();
            let per_call = allocations_per_call(1_000, || {
                let request = if realistic {
                    realistic_request()
                } else {
                    Request::new(())
                };
                let _ = ready_call(&mut svc, request);
            })
            .expect("the counting allocator");
            self.0.insert((name.to_owned(), shape), per_call);
        }
    }
}

#[test]
fn each_stack_allocates_no_more_than_tower_s_equivalent() {
    // The timeouts' timer needs a runtime's context; futures are polled
    // by hand, as in the bench.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let mut count = Count::default();
    variants::each_stack(&mut count);
    let get = |name: &str, shape| count.0[&(name.to_owned(), shape)];
    for shape in ["empty", "realistic"] {
        let bare = get("bare", shape);
        let over = |name| get(name, shape) - bare;
        println!(
            "{shape}: server {:.2}, tower server {:.2}, client {:.2}, client with its default replay {:.2}, \
             tower client {:.2} allocations per request over bare",
            over("server"),
            over("tower_server"),
            over("client"),
            over("client_default"),
            over("tower_client"),
        );
        // Today's figures (BENCHMARKS.md): never more, and never more than
        // tower's. The server stack's 4: the echoed ID's header map (two),
        // the generated ID's text, and the inner layers' response future,
        // which the stack keeps on the heap so that the edge, metrics,
        // context and hyper move a pointer, not ~380 bytes (the trade is
        // measured in BENCHMARKS.md); the context rides in no extension.
        assert!(
            over("server") <= 4.0,
            "{shape}: server stack {}",
            over("server")
        );
        assert!(
            over("server") <= over("tower_server"),
            "{shape}: server stack vs tower's"
        );
        assert!(
            over("server_trusting") <= over("server"),
            "{shape}: the internal preset"
        );
        assert!(
            over("client") <= over("tower_client"),
            "{shape}: client stack vs tower's"
        );
        // The default replay keeps the request's URI and headers in one
        // buffer: one allocation, where cloning the request takes 13 (and
        // cloning only its URI, parsed from text, one more).
        assert!(
            over("client_default") <= 1.0,
            "{shape}: client stack with its default replay {}",
            over("client_default")
        );
    }
}
