//! A scripted dependency for the paused-clock tests: answers each call by
//! its index, and records what it received and when.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_core::BoxError;
use http::{HeaderMap, Request, Response};
use tokio::time::Instant;

/// One call as the dependency saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub headers: HeaderMap,
    pub method: http::Method,
}

/// What the dependency does on one call.
#[derive(Clone)]
pub enum Answer {
    Status(u16),
    WithHeader(u16, &'static str, &'static str),
    Error(Arc<dyn Fn() -> BoxError + Send + Sync>),
    Hang,
    After(Duration, Box<Answer>),
}

impl Answer {
    pub fn error(make: impl Fn() -> BoxError + Send + Sync + 'static) -> Self {
        Answer::Error(Arc::new(make))
    }
}

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn calls(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn attempt_headers(&self) -> Vec<Option<String>> {
        self.calls()
            .iter()
            .map(|seen| {
                seen.headers
                    .get("x-retry-attempt")
                    .map(|v| v.to_str().unwrap().to_owned())
            })
            .collect()
    }

    fn record<B>(&self, req: &Request<B>) -> usize {
        let mut log = self.0.lock().unwrap();
        log.push(Seen {
            at: Instant::now(),
            headers: req.headers().clone(),
            method: req.method().clone(),
        });
        log.len() - 1
    }
}

async fn answer(answer: Answer) -> Result<Response<()>, BoxError> {
    let mut answer = answer;
    loop {
        return match answer {
            Answer::Status(code) => Ok(Response::builder().status(code).body(()).unwrap()),
            Answer::WithHeader(code, name, value) => Ok(Response::builder()
                .status(code)
                .header(name, value)
                .body(())
                .unwrap()),
            Answer::Error(make) => Err(make()),
            Answer::Hang => std::future::pending().await,
            Answer::After(delay, then) => {
                tokio::time::sleep(delay).await;
                answer = *then;
                continue;
            }
        };
    }
}

/// A dependency answering call `i` with `script[i]` (the last entry
/// repeats).
#[allow(clippy::type_complexity)] // an `impl Service` with its future spelled out
pub fn scripted<B: Send + 'static>(
    script: Vec<Answer>,
) -> (
    Log,
    impl tower::Service<
        Request<B>,
        Response = Response<()>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<()>, BoxError>> + Send,
    > + Clone
    + Send
    + 'static,
) {
    let log = Log::default();
    let seen = log.clone();
    let script = Arc::new(script);
    let svc = tower::service_fn(move |req: Request<B>| {
        let index = seen.record(&req);
        let next = script[index.min(script.len() - 1)].clone();
        answer(next)
    });
    (log, svc)
}

pub fn status(code: u16) -> Answer {
    Answer::Status(code)
}

pub fn ok() -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}
