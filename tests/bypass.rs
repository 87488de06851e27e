//! Every layer a stack may leave out bypasses itself (`Bypass`): the
//! bypassed service calls the inner service for every request, refuses
//! nothing, waits for nothing and writes no header, however its inner
//! service behaves. A stack whose section is `false` must be no stack at
//! all for that layer.

#![cfg(all(
    feature = "breaker",
    feature = "limit",
    feature = "context",
    feature = "metrics",
    feature = "chaos"
))]

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress::breaker::CircuitBreakerLayer;
use buttress::chaos::ChaosLayer;
use buttress::context::{ClientContextLayer, ServerContextLayer};
use buttress::core::layer::Bypass;
use buttress::core::timeout::TimeoutLayer;
use buttress::limit::{
    AdaptiveLimitLayer, BulkheadLayer, LoadShedLayer, RateLimitLayer, ThrottleLayer,
};
use buttress::metrics::{RedHeadLayer, RedLayer};
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt, service_fn};

/// Calls to the inner service, and the request headers it ever saw.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<AtomicUsize>,
    headers: Arc<AtomicUsize>,
}

/// An inner service that takes an hour and fails every call with a 503:
/// what would trip a breaker, a throttle, a timeout or a limit that acted.
fn failing_and_slow(
    seen: &Seen,
) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let seen = seen.clone();
    service_fn(move |request: Request<()>| {
        let seen = seen.clone();
        async move {
            seen.calls.fetch_add(1, Ordering::Relaxed);
            seen.headers
                .fetch_add(request.headers().len(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok::<_, Infallible>(response)
        }
    })
}

const CALLS: usize = 200;

async fn passes_everything<S, B>(name: &str, mut svc: S, seen: &Seen)
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: Debug,
{
    for _ in 0..CALLS {
        let response = svc
            .ready()
            .await
            .unwrap_or_else(|e| panic!("{name}: not ready: {e:?}"))
            .call(Request::new(()))
            .await
            .unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
        assert_eq!(response.status(), 503, "{name}");
        assert!(response.headers().is_empty(), "{name} wrote a header");
    }
    assert_eq!(seen.calls.load(Ordering::Relaxed), CALLS, "{name}");
    assert_eq!(
        seen.headers.load(Ordering::Relaxed),
        0,
        "{name} wrote a header"
    );
}

macro_rules! check {
    ($layer:ty) => {{
        let seen = Seen::default();
        let svc = <$layer as Bypass<_>>::bypass(failing_and_slow(&seen));
        passes_everything(stringify!($layer), svc, &seen).await;
    }};
}

#[tokio::test(start_paused = true)]
async fn every_bypassed_layer_calls_through_and_does_nothing_else() {
    check!(ServerContextLayer);
    check!(RedLayer);
    check!(RateLimitLayer);
    check!(LoadShedLayer);
    check!(AdaptiveLimitLayer);
    check!(BulkheadLayer);
    check!(TimeoutLayer);
    check!(ClientContextLayer);
    check!(RedHeadLayer);
    check!(ThrottleLayer);
    check!(CircuitBreakerLayer);
    check!(ChaosLayer);
}
