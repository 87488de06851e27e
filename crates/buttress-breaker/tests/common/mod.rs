//! Shared test helpers: a scripted dependency and call shortcuts.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress_core::{BoxError, Rejected};
use http::{Request, Response};
use tower::{Service, ServiceExt, service_fn};

/// What the scripted dependency does with one request.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    pub status: u16,
    pub delay: Duration,
}

pub type Req = Request<Script>;

/// A dependency answering each request as its script says, counting hits.
pub fn dependency(
    hits: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Response<()>, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(move |req: Req| {
        hits.fetch_add(1, Ordering::SeqCst);
        let script = *req.body();
        async move {
            if !script.delay.is_zero() {
                tokio::time::sleep(script.delay).await;
            }
            Ok(Response::builder().status(script.status).body(()).unwrap())
        }
    })
}

pub fn req(status: u16) -> Req {
    Request::new(Script {
        status,
        delay: Duration::ZERO,
    })
}

pub fn slow_req(status: u16, delay: Duration) -> Req {
    Request::new(Script { status, delay })
}

/// Sends `request` through a clone of `svc` (as axum and tonic do); the
/// answer's status, or the error.
pub async fn send<S>(svc: &S, request: Req) -> Result<u16, BoxError>
where
    S: Service<Req, Response = Response<()>, Error = BoxError> + Clone,
{
    svc.clone()
        .oneshot(request)
        .await
        .map(|res| res.status().as_u16())
}

/// The breaker's rejection in `result`, if it is one.
pub fn rejection(result: &Result<u16, BoxError>) -> Option<Rejected> {
    match result {
        Err(err) => Rejected::find(&**err).cloned(),
        Ok(_) => None,
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn hits(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}
