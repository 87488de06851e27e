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
        held: Held,
        settings: Option<Arc<Settings>>,
        _release: PhantomData<fn() -> R>,
    }
}

impl<S, Req, R> ResponseFuture<S, Req, R>
where
    S: Service<Req>,
{
    /// A call admitted at once. `keyed` is a keyed layer's settings: its
    /// future, not its permit, reports how the call ends.
    /// The inner call, holding no permit: a bypassed layer's.
    pub(crate) fn passthrough(future: S::Future) -> Self {
        ResponseFuture {
            stage: Stage::bypassed(future),
            held: Held {
                permit: None,
                keyed: None,
            },
            settings: None,
            _release: PhantomData,
        }
    }

    pub(crate) fn running(future: S::Future, permit: Permit, keyed: Option<Arc<Settings>>) -> Self {
        ResponseFuture {
            stage: Stage::running(future),
            held: Held {
                permit: Some(permit),
                keyed,
            },
            settings: None,
            _release: PhantomData,
        }
    }

    pub(crate) fn queued(
        wait: Wait,
        inner: S,
        request: Req,
        settings: Arc<Settings>,
        keyed: Option<Arc<Settings>>,
    ) -> Self {
        ResponseFuture {
            stage: Stage::queued(wait, inner, request),
            held: Held {
                permit: None,
                keyed,
            },
            settings: Some(settings),
            _release: PhantomData,
        }
    }

    pub(crate) fn refused(rejected: Rejected) -> Self {
        ResponseFuture {
            stage: Stage::refused(rejected),
            held: Held {
                permit: None,
                keyed: None,
            },
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
        if let Some(poll) = this.stage.as_mut().poll_bypassed(cx) {
            return poll.map_ok(|response| R::attach(response, None));
        }
        loop {
            match ready!(this.stage.as_mut().poll_step(&mut this.held.permit, cx)) {
                Step::Admitted { waited } => {
                    if let Some(settings) = this.settings.as_ref() {
                        settings.telemetry.report(Event::Waited(waited));
                        settings.telemetry.report(Event::Admitted);
                    }
                }
                Step::Finished(Ok(response)) => {
                    // A bulkhead judges capacity, not answers: an answered
                    // call counts as a success here.
                    this.held.finish(Outcome::Success);
                    return Poll::Ready(Ok(R::attach(response, this.held.permit.take())));
                }
                Step::Finished(Err(err)) => {
                    // A call refused before queueing holds no permit.
                    this.held.finish(classify_error(&*err));
                    this.held.permit.take();
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
                        rejected = rejected.with_retry_after(settings.retry_after());
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
            .field("holds_permit", &self.held.permit.is_some())
            .finish()
    }
}

/// A call's permit, and who reports how the call ended.
struct Held {
    permit: Option<Permit>,
    /// A keyed layer's settings. Its permits report nothing themselves:
    /// their one `finished` call gives the call's place under `max_total`
    /// back, so it must come when the permit is dropped — with
    /// [`OnBodyEnd`](crate::OnBodyEnd), at the end of the body — never
    /// when the response head is ready. The future reports instead.
    keyed: Option<Arc<Settings>>,
}

impl Held {
    /// Reports that the call ended with `outcome` (the permit itself is
    /// returned when dropped).
    fn finish(&mut self, outcome: Outcome) {
        let Some(permit) = self.permit.as_mut() else {
            return;
        };
        match &self.keyed {
            Some(settings) => settings.telemetry.report(Event::Completed {
                outcome,
                duration: Duration::ZERO,
            }),
            None => permit.finish(outcome, Duration::ZERO, None),
        }
        // Reported once: a permit carried on in the body is not
        // "cancelled" when the future is dropped.
        self.keyed = None;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // A keyed call dropped before it ended (the caller gave up, the
        // call panicked): reported as a permit would report it. A global
        // layer's permit reports this itself as it drops.
        if self.permit.is_some()
            && let Some(settings) = self.keyed.take()
        {
            settings.telemetry.report(Event::Completed {
                outcome: Outcome::Cancelled,
                duration: Duration::ZERO,
            });
        }
    }
}
