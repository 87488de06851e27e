//! What the retry layer clones of the service it wraps: nothing for a
//! request that is not retried, one clone for a request that is (however
//! many attempts it takes), and that clone is made ready before each
//! retry. A stack's service is a chain of reference counts, so cloning it
//! into every response future (tower's `Retry` does) costs every request.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use buttress_retry::RetryLayer;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

/// Counts its clones, the calls each instance saw, and its readiness
/// polls; answers 503 to the first `failures` calls, then 200.
#[derive(Debug)]
struct Counted {
    clones: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    ready_polls: Arc<AtomicUsize>,
    failures: usize,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Relaxed);
        Counted {
            clones: self.clones.clone(),
            calls: self.calls.clone(),
            ready_polls: self.ready_polls.clone(),
            failures: self.failures,
        }
    }
}

impl Service<Request<()>> for Counted {
    type Response = Response<()>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<()>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready_polls.fetch_add(1, Relaxed);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let call = self.calls.fetch_add(1, Relaxed);
        let status = if call < self.failures {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let mut response = Response::new(());
        *response.status_mut() = status;
        std::future::ready(Ok(response))
    }
}

fn counted(failures: usize) -> Counted {
    Counted {
        clones: Arc::default(),
        calls: Arc::default(),
        ready_polls: Arc::default(),
        failures,
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_is_not_retried_clones_nothing() {
    let inner = counted(0);
    let (clones, calls) = (inner.clones.clone(), inner.calls.clone());
    let layer = RetryLayer::builder().clone_requests().build().unwrap();
    let mut svc = layer.layer(inner);
    let after_layer = clones.load(Relaxed);
    for _ in 0..100 {
        let res = svc.ready().await.unwrap().call(Request::new(())).await;
        assert_eq!(res.unwrap().status(), 200);
    }
    assert_eq!(calls.load(Relaxed), 100);
    assert_eq!(clones.load(Relaxed), after_layer, "a clone per request");
}

#[tokio::test(start_paused = true)]
async fn a_retried_request_clones_the_service_once_and_readies_it_per_retry() {
    // Two failures, then success: three attempts, two of them retries.
    let inner = counted(2);
    let (clones, calls, ready_polls) = (
        inner.clones.clone(),
        inner.calls.clone(),
        inner.ready_polls.clone(),
    );
    let layer = RetryLayer::builder().clone_requests().build().unwrap();
    let mut svc = layer.layer(inner);
    let after_layer = clones.load(Relaxed);
    let ready = svc.ready().await.unwrap();
    let polls_before = ready_polls.load(Relaxed);
    let res = ready.call(Request::new(())).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(calls.load(Relaxed), 3);
    assert_eq!(
        clones.load(Relaxed),
        after_layer + 1,
        "one clone per retried request"
    );
    assert_eq!(
        ready_polls.load(Relaxed) - polls_before,
        2,
        "the clone is made ready before each retry"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_replaced_through_get_mut_serves_the_retries_too() {
    let old = counted(0);
    let old_calls = old.calls.clone();
    // The replacement fails its first call: the retry must reach it, not
    // the service the layer first wrapped.
    let new = counted(1);
    let new_calls = new.calls.clone();
    let layer = RetryLayer::builder().clone_requests().build().unwrap();
    let mut svc = layer.layer(old);
    *svc.get_mut() = new;
    let res = svc.ready().await.unwrap().call(Request::new(())).await;
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(
        new_calls.load(Relaxed),
        2,
        "both attempts on the new service"
    );
    assert_eq!(old_calls.load(Relaxed), 0, "none on the replaced one");
}
