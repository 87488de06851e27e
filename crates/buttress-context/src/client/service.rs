//! [`ClientContext`].

use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::RequestAccess;
use buttress_core::future::OrRejected;
use buttress_core::{BoxError, RequestContext, chain, clock};
use tower_service::Service;

use super::inject::Settings;

/// The service [`ClientContextLayer`](super::ClientContextLayer) makes.
#[derive(Clone)]
pub struct ClientContext<S> {
    inner: S,
    /// `None`: bypassed, left out of a stack (see `Bypass`).
    settings: Option<Arc<Settings>>,
}

impl<S> ClientContext<S> {
    pub(super) fn new(inner: S, settings: Option<Arc<Settings>>) -> Self {
        ClientContext { inner, settings }
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

impl<S, Req> Service<Req> for ClientContext<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = OrRejected<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let Some(settings) = &self.settings else {
            return OrRejected::admitted(self.inner.call(request));
        };
        // One clock reading for the whole client stack's call chain (the
        // deadline here, the breaker, the per-attempt timeout); none if
        // this already runs inside a server's chain.
        let _chain = chain::enter(clock::now());
        // Take the headers out so the context can stay borrowed from the
        // extensions while they are written; an empty map costs nothing.
        let mut headers = std::mem::take(request.headers_mut());
        let injected = RequestContext::with_request(&request, |ctx| match ctx {
            Some(ctx) => settings.inject(ctx, &mut headers),
            None => Ok(()),
        });
        *request.headers_mut() = headers;
        match injected {
            Ok(()) => OrRejected::admitted(self.inner.call(request)),
            Err(rejected) => {
                settings.report_refusal();
                OrRejected::rejected(rejected)
            }
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for ClientContext<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
