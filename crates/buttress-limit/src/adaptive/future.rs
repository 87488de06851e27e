//! The adaptive limit's response future.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::classify::Classify;
use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Reason, Rejected};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::limiter::Limiter;
use crate::permit::{Expired, Permit, Stage, Step, Wait};

pin_project! {
    /// The response future of an [`AdaptiveLimit`](super::AdaptiveLimit).
    ///
    /// When the call ends it is judged by the classifier and its round trip
    /// (from admission, queueing excluded) goes into the limiter's window;
    /// then the permit is returned. Dropped early, it returns the permit
    /// and records nothing: a cancelled call says nothing about latency.
    pub struct ResponseFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        stage: Stage<S, Req, S::Future>,
        // Declared after `stage`: the inner future is dropped before its
        // permit is returned.
        permit: Option<Permit>,
        admitted_at: Instant,
        classifier: C,
        limiter: Option<Arc<Limiter>>,
    }
}

impl<S, Req, C> ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    pub(crate) fn running(
        future: S::Future,
        permit: Permit,
        admitted_at: Instant,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            stage: Stage::running(future),
            permit: Some(permit),
            admitted_at,
            classifier,
            limiter: None,
        }
    }

    pub(crate) fn queued(
        wait: Wait,
        inner: S,
        request: Req,
        limiter: Arc<Limiter>,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            admitted_at: wait.queued_at(),
            stage: Stage::queued(wait, inner, request),
            permit: None,
            classifier,
            limiter: Some(limiter),
        }
    }

    /// The inner call, holding no permit: a bypassed layer's.
    pub(crate) fn passthrough(future: S::Future, classifier: C) -> Self {
        ResponseFuture {
            stage: Stage::bypassed(future),
            permit: None,
            // Never read without a permit: no clock reading for it.
            admitted_at: buttress_core::clock::instant(0),
            classifier,
            limiter: None,
        }
    }

    pub(crate) fn refused(rejected: Rejected, now: Instant, classifier: C) -> Self {
        ResponseFuture {
            stage: Stage::refused(rejected),
            permit: None,
            admitted_at: now,
            classifier,
            limiter: None,
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(poll) = this.stage.as_mut().poll_bypassed(cx) {
            return poll;
        }
        loop {
            match ready!(this.stage.as_mut().poll_step(this.permit, cx)) {
                Step::Admitted { waited } => {
                    *this.admitted_at += waited;
                    if let Some(limiter) = this.limiter.as_ref() {
                        limiter.waiter_gave_up(Instant::now());
                        limiter.telemetry.report(Event::Waited(waited));
                        limiter.telemetry.report(Event::Admitted);
                    }
                }
                Step::Finished(result) => {
                    // A refused call holds no permit: nothing to judge.
                    if let Some(permit) = this.permit.as_mut() {
                        let outcome = match &result {
                            Ok(response) => this.classifier.classify(Ok(response)),
                            Err(err) => {
                                let err: &(dyn Error + 'static) = &**err;
                                this.classifier.classify(Err(err))
                            }
                        };
                        // The permit hands the outcome and round trip to
                        // the limiter that owns it.
                        let ended = Instant::now();
                        let rtt = ended.saturating_duration_since(*this.admitted_at);
                        permit.finish(outcome, rtt, Some(ended));
                    }
                    this.permit.take();
                    return Poll::Ready(result);
                }
                Step::Expired { cause, waited } => {
                    let reason = match cause {
                        Expired::Patience => Reason::Overloaded,
                        Expired::Deadline => Reason::QueueTimeout,
                    };
                    let mut rejected = Rejected::new(reason);
                    if let Some(limiter) = this.limiter.as_ref() {
                        limiter.waiter_gave_up(Instant::now());
                        limiter.telemetry.report(Event::Waited(waited));
                        limiter.telemetry.report(Event::Rejected(reason));
                        rejected = rejected.with_retry_after(limiter.retry_after());
                    }
                    return Poll::Ready(Err(Box::new(rejected)));
                }
            }
        }
    }
}

impl<S, Req, C> fmt::Debug for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("stage", &self.stage.name())
            .field("holds_permit", &self.permit.is_some())
            .field("admitted_at", &self.admitted_at)
            .finish()
    }
}
