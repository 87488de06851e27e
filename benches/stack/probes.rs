//! The stack bench's modes outside criterion: a plain loop of calls for
//! callgrind to count, and the response futures' sizes.

use buttress_core::layer::LayerBuilder;
use std::hint::black_box;
use std::time::Duration;

use buttress::stack::{ClientStack, ServerStack};
use buttress_benches::{Bare, ready_call, realistic_client_request, realistic_request};
use buttress_context::ServerContextLayer;
use http::Request;
use tower::{Layer, Service};

use super::variants::Visit;

/// `--instructions <variant> <calls> <empty|realistic|client>`: makes
/// that many `ready` + `call`s of one variant and nothing else, to be run
/// under `valgrind --tool=callgrind` (see `scripts/instructions`):
/// instruction counts do not move with the machine's load.
pub(crate) struct Instructions {
    pub(crate) variant: String,
    pub(crate) calls: u64,
    pub(crate) shape: Shape,
}

/// The request each call makes.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// No headers, path `/`.
    Empty,
    /// Eight headers, path only: what a server receives.
    Realistic,
    /// The same eight headers, absolute URI: what an HTTP client sends.
    Client,
}

impl Shape {
    pub(crate) fn parse(name: &str) -> Shape {
        match name {
            "realistic" => Shape::Realistic,
            "client" => Shape::Client,
            _ => Shape::Empty,
        }
    }
}

impl Visit for Instructions {
    // Never inlined: `scripts/instructions` counts only inside this
    // function, by name.
    #[inline(never)]
    fn visit<S>(&mut self, name: &str, mut svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send,
    {
        if name != self.variant {
            return;
        }
        if std::env::var_os("FUTURE_SIZE").is_some() {
            let future = svc.call(Request::new(()));
            eprintln!(
                "{name}: response future {} bytes",
                std::mem::size_of_val(&future)
            );
        }
        for _ in 0..self.calls {
            let request = match self.shape {
                Shape::Empty => Request::new(()),
                Shape::Realistic => realistic_request(),
                Shape::Client => realistic_client_request(),
            };
            black_box(ready_call(&mut svc, request).is_ok());
        }
    }
}

/// Prints the size of one response future, and of the response it gives:
/// every layer (and hyper) moves both, so their sizes are part of the
/// cost.
fn size<S: Service<Request<()>>>(name: &str, mut svc: S) {
    let future = svc.call(Request::new(()));
    println!(
        "{name:>32}: {:4} bytes (its response {} bytes)",
        std::mem::size_of_val(&future),
        std::mem::size_of::<S::Response>()
    );
}

/// `--sizes`: each stack's and each layer's response future over the bare
/// service, with the response each gives, and the request context's size.
pub(crate) fn sizes() {
    use buttress_core::timeout::TimeoutLayer;
    use buttress_limit::BulkheadLayer;
    use buttress_limit::adaptive::AdaptiveLimitLayer;

    println!("response future sizes:");
    size("bare", Bare);
    size(
        "server stack",
        ServerStack::new("sizes")
            .build()
            .expect("defaults build")
            .layer(Bare),
    );
    size(
        "client stack",
        ClientStack::new("sizes")
            .clone_requests()
            .build()
            .expect("defaults build")
            .layer(Bare),
    );
    size(
        "client stack, default replay",
        super::variants::EmptyBody(
            ClientStack::new("sizes")
                .build()
                .expect("defaults build")
                .layer(Bare),
        ),
    );
    size(
        "server context",
        ServerContextLayer::builder()
            .build()
            .expect("valid")
            .layer(Bare),
    );
    size(
        "red",
        buttress_metrics::RedLayer::builder()
            .name("sizes")
            .build()
            .unwrap()
            .layer(Bare),
    );
    size("edge", buttress::edge::EdgeLayer::new().layer(Bare));
    size(
        "adaptive limit",
        AdaptiveLimitLayer::builder()
            .build()
            .expect("valid")
            .layer(Bare),
    );
    size(
        "bulkhead",
        BulkheadLayer::builder().build().expect("valid").layer(Bare),
    );
    size(
        "timeout",
        TimeoutLayer::new(Duration::from_secs(1))
            .expect("a valid timeout")
            .layer(Bare),
    );
    println!(
        "{:>32}: {:4} bytes",
        "RequestContext",
        std::mem::size_of::<buttress_core::RequestContext>()
    );
}
