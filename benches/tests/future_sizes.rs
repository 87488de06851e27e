//! The size of each ready-made stack's response future, against tower's
//! equivalent stack's (`benches/stack/variants.rs`). Every layer, and
//! whatever drives the stack (hyper's connection task), moves the future,
//! so its size is paid on every call: this guards it against growth.
//!
//! The server stack's bound is issue 22's 400 bytes: the stack keeps the
//! future of the layers inside its edge on the heap (`HeapFutureLayer`),
//! and the edge keeps why it answers, not a built response. The client
//! stacks' bounds are today's sizes (after the layers left out of a stack
//! stopped wrapping it, `BypassLayer`).

#[path = "../stack/variants.rs"]
#[allow(dead_code)]
mod variants;

use std::collections::BTreeMap;
use std::task::{Context, Waker};

use http::Request;
use tower::Service;

/// Each stack's response future size, by variant name; and, printed
/// beside them, the sizes of the service (cloned per request by axum and
/// hyper-util) and of its response (moved by hyper until written).
#[derive(Default)]
struct Sizes(BTreeMap<String, usize>, BTreeMap<String, (usize, usize)>);

impl variants::Visit for Sizes {
    fn visit<S>(&mut self, name: &str, mut svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        // Made ready first: tower's `ConcurrencyLimit` panics otherwise.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            svc.poll_ready(&mut cx).is_ready(),
            "{name} is ready at once"
        );
        let future = svc.call(Request::new(()));
        self.0
            .insert(name.to_owned(), std::mem::size_of_val(&future));
        self.1.insert(
            name.to_owned(),
            (
                std::mem::size_of_val(&svc),
                std::mem::size_of::<S::Response>(),
            ),
        );
    }
}

#[test]
fn stack_response_futures_stay_within_their_bounds() {
    // The timeouts' timer needs a runtime's context.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _context = runtime.enter();
    let mut sizes = Sizes::default();
    variants::each_stack(&mut sizes);
    let size = |name: &str| sizes.0[name];
    println!("response futures: {:?}", sizes.0);
    println!("services and responses: {:?}", sizes.1);
    // Bounds in bytes: these variants' sizes on x86_64 at this change,
    // built as the README's test command builds them (the whole workspace,
    // every feature: the client stack's future holds the hedging and
    // balancing states then; 816 bytes with this package's features
    // alone). `--sizes` of the stack bench prints each layer's share.
    let bounds = [
        ("server", 400),
        ("server_trusting", 400),
        ("client", 1072),
        ("client_default", 1112),
    ];
    // The server stack's response (head and body wrappers) is moved by
    // every layer above the handler and by hyper until it is written: 240
    // bytes since the rare trailers of a layer's own body went behind a
    // box (it was 320; tower's stack, whose body is the handler's, 112).
    let (_, server_response) = sizes.1["server"];
    assert!(
        server_response <= 240,
        "the server stack's response is {server_response} bytes, over its bound of 240"
    );
    for (stack, bound) in bounds {
        assert!(
            size(stack) <= bound,
            "{stack}'s response future is {} bytes, over its bound of {bound} (tower's server stack: {}, client: {})",
            size(stack),
            size("tower_server"),
            size("tower_client"),
        );
    }
}
