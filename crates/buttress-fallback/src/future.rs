//! The [`Fallback`](crate::Fallback) response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use buttress_core::BoxError;
use buttress_core::classify::Classify;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::FallbackBody;
use crate::body::passed;
use crate::shared::Call;

pin_project! {
    /// The response future of [`Fallback`](crate::Fallback).
    pub struct ResponseFuture<F, C, B> {
        #[pin]
        state: State<F, C, B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, C, B> {
        // A request the layer does not cover (a write, by default).
        Passthrough { #[pin] inner: F },
        Watching { #[pin] inner: F, call: Option<Call<C>> },
        Done { result: Option<Result<Response<FallbackBody<B>>, BoxError>> },
    }
}

impl<F, C, B> ResponseFuture<F, C, B> {
    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { inner },
        }
    }

    pub(crate) fn watching(inner: F, call: Call<C>) -> Self {
        ResponseFuture {
            state: State::Watching {
                inner,
                call: Some(call),
            },
        }
    }

    pub(crate) fn done(result: Result<Response<FallbackBody<B>>, BoxError>) -> Self {
        ResponseFuture {
            state: State::Done {
                result: Some(result),
            },
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    C: Classify<Response<B>>,
{
    type Output = Result<Response<FallbackBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Passthrough { inner } => {
                let result = ready!(inner.poll(cx));
                Poll::Ready(
                    result
                        .map(|response| response.map(passed))
                        .map_err(Into::into),
                )
            }
            StateProjection::Watching { inner, call } => {
                let result = ready!(inner.poll(cx));
                let call = call.take().expect("polled after completion");
                Poll::Ready(call.finish(result))
            }
            StateProjection::Done { result } => {
                Poll::Ready(result.take().expect("polled after completion"))
            }
        }
    }
}
