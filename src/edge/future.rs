//! The [`Edge`](super::Edge) response future.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use http::Response;
use pin_project_lite::pin_project;

use super::EdgeBody;
use super::answer;
use buttress_core::answer::Protocol;

pin_project! {
    /// The response future of [`Edge`](super::Edge): never fails.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, B> {
        Running { #[pin] inner: F, protocol: Protocol },
        Answer { response: Option<Response<EdgeBody<B>>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn running(inner: F, protocol: Protocol) -> Self {
        ResponseFuture {
            state: State::Running { inner, protocol },
        }
    }

    pub(super) fn answer(response: Response<EdgeBody<B>>) -> Self {
        ResponseFuture {
            state: State::Answer {
                response: Some(response),
            },
        }
    }
}

/// A panic in `poll_ready`, kept as an error to answer on the next call.
pub(super) fn panic_error(payload: &(dyn Any + Send)) -> BoxError {
    format!(
        "inner service panicked in poll_ready: {}",
        answer::panic_message(payload)
    )
    .into()
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<EdgeBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let response = match state.as_mut().project() {
            StateProjection::Running { inner, protocol } => {
                let protocol = *protocol;
                match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => answer::passed_on(response, protocol),
                    Ok(Poll::Ready(Err(error))) => answer::error(error.into(), protocol),
                    Err(payload) => {
                        let response = answer::panic(&*payload, protocol);
                        // A panicked future must not be polled again: drop it.
                        state.set(State::Answer { response: None });
                        response
                    }
                }
            }
            StateProjection::Answer { response } => {
                response.take().expect("polled after completion")
            }
        };
        Poll::Ready(Ok(response))
    }
}
