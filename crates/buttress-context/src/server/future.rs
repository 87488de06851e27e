//! The [`ServerContext`](super::ServerContext) response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::context::Scoped;
use http::{HeaderName, Response};
use pin_project_lite::pin_project;

pin_project! {
    /// Runs the inner future with the request's context as the current
    /// one and inside its `tracing` span, then writes the
    /// correlation ID on the response.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Scoped {
            #[pin]
            inner: Scoped<F>,
            span: tracing::Span,
            // The header the ID is echoed under; the ID itself is taken
            // from the scope's context when the inner future is done, so
            // it is not cloned for the echo (the inner future, dropped
            // after, no longer sees it in the context, nor runs in the
            // span: it has answered already).
            echo: Option<HeaderName>,
        },
        Bypassed { #[pin] inner: F },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: Scoped<F>, span: tracing::Span, name: HeaderName) -> Self {
        ResponseFuture {
            state: State::Scoped {
                inner,
                span,
                echo: Some(name),
            },
        }
    }

    pub(super) fn bypassed(inner: F) -> Self {
        ResponseFuture {
            state: State::Bypassed { inner },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut inner, span, echo) = match self.project().state.project() {
            StateProjection::Scoped { inner, span, echo } => (inner, span, echo),
            StateProjection::Bypassed { inner } => return inner.poll(cx),
        };
        let _entered = span.enter();
        // The echo is written into the inner future's answer where it
        // lies: the answer is handed on as it came, not moved out and
        // back (two copies of the response a request).
        let mut poll = inner.as_mut().poll(cx);
        if let Poll::Ready(Ok(response)) = &mut poll
            && let Some(name) = echo.take()
            && let Some(id) = inner.context_mut().take_correlation_id()
        {
            response.headers_mut().insert(name, id.into_header_value());
        }
        poll
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field(
                "echo",
                match &self.state {
                    State::Scoped { echo, .. } => echo,
                    State::Bypassed { .. } => &None::<HeaderName>,
                },
            )
            .finish_non_exhaustive()
    }
}
