//! The bulkhead's response future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use buttress_core::telemetry::Event;
use std::time::Duration;

use buttress_core::classify::classify_error;
use buttress_core::{BoxError, Outcome, Reason, Rejected};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::config::Settings;
use crate::permit::{Permit, Stage, Step, Wait};
use crate::release::ReleasePolicy;

pin_project! {
    /// The response future of a [`Bulkhead`](super::Bulkhead).
    ///
    /// Holds the permit while the inner call runs: dropping the future —
    /// on completion, error, panic or cancellation — returns it. A queued
    /// call holds its place in the queue instead, and leaves it when
    /// dropped.
    pub struct ResponseFuture<S, Req, R>
    where
        S: Service<Req>,
    {
        #[pin]
        stage: Stage<S, Req, S::Future>,
        // Declared after `stage`: the inner future is dropped before its
        // permit is returned.
        permit: Option<Permit>,
        settings: Option<Arc<Settings>>,
        _release: PhantomData<fn() -> R>,
    }
}

impl<S, Req, R> ResponseFuture<S, Req, R>
where
    S: Service<Req>,
{
    pub(crate) fn running(future: S::Future, permit: Permit) -> Self {
        ResponseFuture {
            stage: Stage::running(future),
            permit: Some(permit),
            settings: None,
            _release: PhantomData,
        }
    }

    pub(crate) fn queued(wait: Wait, inner: S, request: Req, settings: Arc<Settings>) -> Self {
        ResponseFuture {
            stage: Stage::queued(wait, inner, request),
            permit: None,
            settings: Some(settings),
            _release: PhantomData,
        }
    }

    pub(crate) fn refused(rejected: Rejected) -> Self {
        ResponseFuture {
            stage: Stage::refused(rejected),
            permit: None,
            settings: None,
            _release: PhantomData,
        }
    }
}

impl<S, Req, R> Future for ResponseFuture<S, Req, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    R: ReleasePolicy<S::Response>,
{
    type Output = Result<R::Output, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match ready!(this.stage.as_mut().poll_step(this.permit, cx)) {
                Step::Admitted { waited } => {
                    if let Some(settings) = this.settings.as_ref() {
                        settings.telemetry.report(Event::Waited(waited));
                        settings.telemetry.report(Event::Admitted);
                    }
                }
                Step::Finished(Ok(response)) => {
                    // A bulkhead judges capacity, not answers: an answered
                    // call counts as a success here.
                    if let Some(permit) = this.permit.as_mut() {
                        permit.finish(Outcome::Success, Duration::ZERO);
                    }
                    return Poll::Ready(Ok(R::attach(response, this.permit.take())));
                }
                Step::Finished(Err(err)) => {
                    // A call refused before queueing holds no permit.
                    if let Some(permit) = this.permit.as_mut() {
                        permit.finish(classify_error(&*err), Duration::ZERO);
                    }
                    this.permit.take();
                    return Poll::Ready(Err(err));
                }
                Step::Expired { waited, .. } => {
                    // A wait cut short by the deadline is a queue timeout
                    // too: either way the queue did not admit in time.
                    let mut rejected = Rejected::new(Reason::QueueTimeout);
                    if let Some(settings) = this.settings.as_ref() {
                        settings.telemetry.report(Event::Waited(waited));
                        settings
                            .telemetry
                            .report(Event::Rejected(Reason::QueueTimeout));
                        rejected = rejected.with_retry_after(settings.config.retry_after);
                    }
                    return Poll::Ready(Err(Box::new(rejected)));
                }
            }
        }
    }
}

impl<S, Req, R> fmt::Debug for ResponseFuture<S, Req, R>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("stage", &self.stage.name())
            .field("holds_permit", &self.permit.is_some())
            .finish()
    }
}
