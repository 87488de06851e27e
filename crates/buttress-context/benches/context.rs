//! Cost of the server context layer over the bare service, in one run:
//! an accepted ID, a generated ID, and tower-http's request-id pair as a
//! baseline, on two request shapes and two call shapes (DESIGN.md,
//! "Measuring"). Allocations are counted, and named, by
//! `tests/allocations.rs`: a counting global allocator here would slow
//! every allocation the timings include.
//!
//! `cargo bench -p buttress-context --bench context -- --warm-up-time 1 --measurement-time 3`

#[path = "support/shapes.rs"]
mod shapes;

use std::hint::black_box;

use buttress_context::ServerContextLayer;
use buttress_core::TrustPolicy;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use shapes::{Bare, Wire, empty, oneshot, ready_call};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

fn bench_stack<S>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    svc: S,
    make: &dyn Fn() -> Request<()>,
) where
    S: Service<Request<()>> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut g = c.benchmark_group(group);
    let mut one = svc.clone();
    g.bench_function(format!("{name}/ready_call"), |b| {
        b.iter_batched(
            make,
            |req| black_box(ready_call(&mut one, req)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function(format!("{name}/oneshot"), |b| {
        b.iter_batched(
            make,
            |req| black_box(oneshot(&svc, req)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn server(c: &mut Criterion) {
    let wire = Wire::new();
    let realistic = || wire.request();
    let accepted = ServerContextLayer::internal(TrustPolicy::always());
    let generated = ServerContextLayer::public();
    let tower_http = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id());

    bench_stack(c, "server_empty", "bare", Bare, &empty);
    bench_stack(
        c,
        "server_empty",
        "generated_id",
        generated.layer(Bare),
        &empty,
    );
    bench_stack(
        c,
        "server_empty",
        "tower_http_request_id",
        tower_http.service(Bare),
        &empty,
    );

    bench_stack(c, "server_realistic", "bare", Bare, &realistic);
    bench_stack(
        c,
        "server_realistic",
        "accepted_id",
        accepted.layer(Bare),
        &realistic,
    );
    bench_stack(
        c,
        "server_realistic",
        "generated_id",
        generated.layer(Bare),
        &realistic,
    );
    bench_stack(
        c,
        "server_realistic",
        "tower_http_request_id",
        tower_http.service(Bare),
        &realistic,
    );
}

criterion_group!(benches, server);
criterion_main!(benches);
