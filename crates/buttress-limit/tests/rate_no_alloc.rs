//! What the rate limit's request path allocates, measured by a counting
//! global allocator: nothing for an admitted request of a key already
//! tracked — global, header, peer address, forwarded address, override —
//! in either call shape; one box for a rejection.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use buttress_core::TrustPolicy;
use buttress_core::context::PeerAddr;
use buttress_core::layer::LayerBuilder;
use buttress_limit::rate::{
    KeySource, QuotaConfig, QuotaOverride, RateLimitConfig, RateLimitLayer,
};
use tower::{Layer, Service};

type Req = http::Request<()>;

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

fn ready_call<S: Service<Req>>(svc: &mut S, req: Req) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => now(svc.call(req)),
        _ => panic!("not ready"),
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

/// A quota no test can spend.
fn plenty() -> QuotaConfig {
    QuotaConfig::per_second(1_000_000_000).burst(100_000)
}

/// A limit of `quota` per key from `key`, the other settings at their
/// defaults.
fn limit(quota: QuotaConfig, key: KeySource) -> RateLimitLayer {
    RateLimitLayer::from_config(&RateLimitConfig {
        quota,
        key,
        ..RateLimitConfig::default()
    })
    .unwrap()
}

/// Requests built before counting: building one allocates its header map.
fn requests(n: usize, make: impl Fn() -> Req) -> Vec<Req> {
    (0..n).map(|_| make()).collect()
}

fn tracked_key_allocates_nothing(layer: RateLimitLayer, make: impl Fn() -> Req) {
    let mut svc = layer.layer(bare());
    // The first request inserts the key (and may allocate).
    ready_call(&mut svc, make()).unwrap();
    let reqs = requests(1_000, &make);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc, req).unwrap();
        }
    });
    assert_eq!(count, 0, "ready + call");
    let reqs = requests(1_000, &make);
    let count = allocations(|| {
        for req in reqs {
            ready_call(&mut svc.clone(), req).unwrap();
        }
    });
    assert_eq!(count, 0, "clone + call, as axum does");
    assert_eq!(layer.handle().limited(), 0);
}

fn from_peer(peer: &str) -> Req {
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    req
}

#[test]
fn a_global_limit_allocates_nothing() {
    let layer = limit(plenty(), KeySource::Global);
    tracked_key_allocates_nothing(layer, || http::Request::new(()));
}

#[test]
fn a_tracked_header_key_allocates_nothing() {
    let layer = limit(plenty(), KeySource::Header("x-api-key".into()));
    tracked_key_allocates_nothing(layer, || {
        http::Request::get("/")
            .header("x-api-key", "k-7f9c2ba4")
            .body(())
            .unwrap()
    });
}

#[test]
fn a_tracked_peer_address_allocates_nothing() {
    let layer = limit(plenty(), KeySource::PeerIp);
    tracked_key_allocates_nothing(layer.clone(), || from_peer("203.0.113.9:5000"));
    tracked_key_allocates_nothing(layer, || from_peer("[2001:db8::7]:5000"));
}

#[test]
fn a_tracked_forwarded_address_allocates_nothing() {
    let layer = RateLimitLayer::builder()
        .configure(|c| c.quota = plenty())
        .key_forwarded(TrustPolicy::peers(["10.0.0.0/8"]).unwrap())
        .build()
        .unwrap();
    tracked_key_allocates_nothing(layer, || {
        let mut req = from_peer("10.0.0.1:5000");
        req.headers_mut().insert(
            "x-forwarded-for",
            "6.6.6.6, 198.51.100.7, 10.1.1.1".parse().unwrap(),
        );
        req
    });
}

#[test]
fn an_override_key_allocates_nothing() {
    let layer = RateLimitLayer::from_config(&RateLimitConfig {
        quota: plenty(),
        key: KeySource::Header("x-tenant".into()),
        overrides: vec![QuotaOverride::new("premium", plenty()).keys(["acme"])],
        ..RateLimitConfig::default()
    })
    .unwrap();
    tracked_key_allocates_nothing(layer, || {
        http::Request::get("/")
            .header("x-tenant", "acme")
            .body(())
            .unwrap()
    });
}

#[test]
fn a_rejection_allocates_one_box() {
    let layer = limit(
        QuotaConfig::per_minute(1),
        KeySource::Header("x-api-key".into()),
    );
    let mut svc = layer.layer(bare());
    let make = || {
        http::Request::get("/")
            .header("x-api-key", "k-1")
            .body(())
            .unwrap()
    };
    ready_call(&mut svc, make()).unwrap();
    let req = make();
    let mut err = None;
    let count = allocations(|| {
        err = Some(ready_call(&mut svc, req).unwrap_err());
    });
    assert_eq!(count, 1);
    assert!(err.is_some());
}
