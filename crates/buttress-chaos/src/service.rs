//! The [`Chaos`] service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::access::RequestAccess;
use buttress_core::telemetry::Event;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::shared::Shared;

/// Injects faults into calls to the inner service; built by
/// [`ChaosLayer`](crate::ChaosLayer). See the [crate documentation](crate).
///
/// `S: Clone` because a delayed call keeps the service it was made ready
/// on and calls it when the delay ends (the clone stays behind, to be
/// made ready for the next call), as clients (hyper-util, reqwest, tonic
/// channels) all allow.
pub struct Chaos<S> {
    inner: S,
    /// `None`: bypassed, left out of a stack (see `Bypass`).
    shared: Option<Arc<Shared>>,
}

impl<S> Chaos<S> {
    pub(crate) fn new(inner: S, shared: Option<Arc<Shared>>) -> Self {
        Chaos { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for Chaos<S> {
    fn clone(&self) -> Self {
        Chaos {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Chaos<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("name", &self.shared.as_ref().map(|shared| shared.name()))
            .finish()
    }
}

impl<S, Req> Service<Req> for Chaos<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Some(shared) = &self.shared else {
            return ResponseFuture::called(self.inner.call(request));
        };
        let Some((fault, slot)) = shared.decide(&request) else {
            return ResponseFuture::called(self.inner.call(request));
        };
        match fault.delay() {
            Some(delay) => {
                shared
                    .counters
                    .delayed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                shared.telemetry.report(Event::Waited(delay));
                // Keep the service made ready for this call; leave a clone
                // to be made ready for the next.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::delayed(delay, ready, request, fault.abort(), slot, shared.clone())
            }
            None => {
                let abort = fault.abort().expect("a fault is a delay or an abort");
                drop(slot);
                ResponseFuture::aborted(abort, shared)
            }
        }
    }
}
