//! [`ServerContext`].

use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::answer::Protocol;
use buttress_core::{RequestContext, chain};
use http::{Request, Response};
use tokio::time::Instant;
use tower_service::Service;

use super::ResponseFuture;
use super::read::Settings;

/// The service [`ServerContextLayer`](super::ServerContextLayer) makes.
#[derive(Clone)]
pub struct ServerContext<S> {
    inner: S,
    /// `None`: the layer is bypassed (see
    /// [`Bypass`](buttress_core::layer::Bypass)).
    settings: Option<Arc<Settings>>,
}

impl<S> ServerContext<S> {
    pub(super) fn new(inner: S, settings: Option<Arc<Settings>>) -> Self {
        ServerContext { inner, settings }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerContext<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let Some(settings) = &self.settings else {
            return ResponseFuture::bypassed(self.inner.call(request));
        };
        // The one clock reading for this request, and its protocol (found
        // on the context's own pass over the headers): every layer inside
        // reads them from the call chain while it runs (`buttress_core::
        // chain`), and the start from the context afterwards.
        //
        // A context the request arrived with (a test's, or an outer
        // layer's) gives its start and is taken out, so that the layers
        // inside, which look in the extensions first, find this one.
        let start = request
            .extensions_mut()
            .remove::<RequestContext>()
            .map_or_else(Instant::now, |outer| outer.start());
        let mut protocol = Protocol::Grpc;
        // Entered before the read, so that an ID minted from the clock
        // (UUIDv7) takes its time from this one reading too.
        let chain = chain::enter(start);
        let ctx = settings.read(&request, start, &mut protocol);
        let _chain = chain.with_protocol(protocol);
        // Formats the ID only if a subscriber wants the span.
        let span = tracing::info_span!(
            "request",
            request_id = %ctx.correlation_id().expect("the context always has an ID")
        );
        // The context is current while the inner service is called (and,
        // through the scope, while its future runs): the layers inside and
        // the handler read it from there. No copy goes into the request's
        // extensions, which would cost the map, a clone and a box on every
        // request (three allocations when the map is new). The response
        // future takes the ID from the scope to echo.
        let inner = {
            let _entered = span.enter();
            ctx.in_scope(|| self.inner.call(request))
        };
        ResponseFuture::new(ctx.scope(inner), span, settings.id_header.clone())
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for ServerContext<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContext")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
