//! The balancer's response future: waits for the chosen endpoint to be
//! ready, calls it, and tells the endpoint how the call went.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::{BoxError, Classify, Outcome, Rejected, clock};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::endpoint::Endpoint;
use crate::judge::{Judge, Overload};

pin_project! {
    /// The future of a [`Balance`](crate::Balance) call.
    pub struct ResponseFuture<K, D, Req, J>
    where
        D: Service<Req>,
    {
        #[pin]
        state: State<D, Req, D::Future>,
        call: Option<Call<K, D, J>>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<D, Req, F> {
        /// Waiting for the endpoint's service to be ready.
        Ready { service: D, request: Option<Req> },
        /// The endpoint is answering.
        Called { #[pin] future: F },
        /// Refused before choosing (no endpoint available).
        Rejected { rejected: Option<Box<Rejected>> },
    }
}

/// An admitted call: which endpoint, since when; counts the call as
/// cancelled if the future is dropped first.
struct Call<K, D, J> {
    endpoint: Arc<Endpoint<K, D>>,
    judge: J,
    start: u64,
    done: bool,
}

impl<K, D, J> Call<K, D, J> {
    /// Counts the call once.
    fn end(&mut self, outcome: Outcome, overloaded: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // A fresh reading: the call chain's instant is its start.
        let now = clock::ticks(tokio::time::Instant::now());
        let rtt = now.saturating_sub(self.start);
        self.endpoint.finish(now, rtt, outcome, overloaded);
    }
}

impl<K, D, J> Drop for Call<K, D, J> {
    fn drop(&mut self) {
        // Dropped before its answer (the caller gave up, or a panic):
        // cancelled, which frees its place in the load and blames no one.
        self.end(Outcome::Cancelled, false);
    }
}

impl<K, D: Service<Req>, Req, J> ResponseFuture<K, D, Req, J> {
    pub(crate) fn new(
        endpoint: Arc<Endpoint<K, D>>,
        service: D,
        request: Req,
        judge: J,
        start: u64,
    ) -> Self {
        ResponseFuture {
            state: State::Ready {
                service,
                request: Some(request),
            },
            call: Some(Call {
                endpoint,
                judge,
                start,
                done: false,
            }),
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            state: State::Rejected {
                rejected: Some(Box::new(rejected)),
            },
            call: None,
        }
    }
}

impl<K, D, Req, C, O> Future for ResponseFuture<K, D, Req, Judge<C, O>>
where
    D: Service<Req, Error = BoxError>,
    C: Classify<D::Response>,
    O: Overload<D::Response>,
{
    type Output = Result<D::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProjection::Ready { service, request } => {
                    let ready = ready!(service.poll_ready(cx));
                    if let Err(err) = ready {
                        if let Some(mut call) = this.call.take() {
                            let verdict = call.judge.verdict::<D::Response>(Err(&*err));
                            call.end(verdict.outcome, verdict.overloaded);
                        }
                        return Poll::Ready(Err(err));
                    }
                    let request = request.take().expect("polled after the call was made");
                    let future = service.call(request);
                    this.state.set(State::Called { future });
                }
                StateProjection::Called { future } => {
                    let result = ready!(future.poll(cx));
                    if let Some(mut call) = this.call.take() {
                        let verdict = match &result {
                            Ok(response) => call.judge.verdict(Ok(response)),
                            Err(err) => call.judge.verdict::<D::Response>(Err(&**err)),
                        };
                        call.end(verdict.outcome, verdict.overloaded);
                    }
                    return Poll::Ready(result);
                }
                StateProjection::Rejected { rejected } => {
                    let rejected = rejected.take().expect("polled after completion");
                    return Poll::Ready(Err(rejected as BoxError));
                }
            }
        }
    }
}

impl<K, D: Service<Req>, Req, J> fmt::Debug for ResponseFuture<K, D, Req, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("admitted", &self.call.is_some())
            .finish()
    }
}
