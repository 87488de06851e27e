//! Request shapes and helpers for the component crates' allocation tests
//! (`buttress-context`'s `tests/allocations.rs`, `buttress-retry`'s
//! `tests/alloc.rs`), each including this one file with `#[path]`. The
//! timed benches use the `buttress-benches` package's own helpers.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Request, Response};
use tower::Service;

/// The bare dependency: answers 200 at once, whatever the body type.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bare;

impl<B> Service<Request<B>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

/// The header values of the realistic shape, as one buffer read off the
/// wire; slices share it, as hyper's do.
pub struct Wire {
    bytes: Bytes,
    ranges: [(usize, usize); 8],
}

const VALUES: [&str; 8] = [
    "api.example.com",
    "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    "application/json",
    "application/json",
    "42",
    "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
];

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

impl Wire {
    /// The buffer, shared.
    pub fn new() -> Self {
        let mut buf = Vec::new();
        let mut ranges = [(0, 0); 8];
        for (range, value) in ranges.iter_mut().zip(VALUES) {
            *range = (buf.len(), buf.len() + value.len());
            buf.extend_from_slice(value.as_bytes());
        }
        let bytes = Bytes::from(buf);
        let shared = bytes.clone(); // promote to a shared buffer now
        drop(bytes);
        Wire {
            bytes: shared,
            ranges,
        }
    }

    fn value(&self, i: usize) -> HeaderValue {
        let (start, end) = self.ranges[i];
        HeaderValue::from_maybe_shared(self.bytes.slice(start..end)).unwrap()
    }

    /// Eight headers as hyper builds them: standard names from constants,
    /// custom names and every value parsed from the wire's bytes.
    pub fn request<B>(&self, body: B) -> Request<B> {
        let mut req = Request::new(body);
        let headers = req.headers_mut();
        headers.insert(HOST, self.value(0));
        headers.insert(USER_AGENT, self.value(1));
        headers.insert(ACCEPT, self.value(2));
        headers.insert(CONTENT_TYPE, self.value(3));
        headers.insert(CONTENT_LENGTH, self.value(4));
        headers.insert(
            HeaderName::from_bytes(b"x-request-id").unwrap(),
            self.value(5),
        );
        headers.insert(
            HeaderName::from_bytes(b"traceparent").unwrap(),
            self.value(6),
        );
        headers.insert(AUTHORIZATION, self.value(7));
        req
    }
}

/// Polls a future that must be ready at once (every stack here is).
pub fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benched stack should answer at once"),
    }
}

/// `ready` + `call` on one instance.
pub fn ready_call<S, R>(svc: &mut S, req: R) -> S::Response
where
    S: Service<R>,
    S::Error: std::fmt::Debug,
{
    now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    now(svc.call(req)).unwrap()
}

/// `clone().oneshot(req)`, as axum and tonic call a service per request.
pub fn oneshot<S, R>(svc: &S, req: R) -> S::Response
where
    S: Service<R> + Clone,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt;
    now(svc.clone().oneshot(req)).unwrap()
}
