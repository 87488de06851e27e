//! The [`Edge`](super::Edge) response future.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
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
        // Why the edge answers itself, kept small: the response is built
        // when polled, so the future is no larger than the one it wraps
        // (a built response is a few hundred bytes, moved with it).
        Answer { cause: Option<Cause>, protocol: Protocol, body: PhantomData<fn() -> B> },
        Done,
    }
}

/// Why the edge answers a call without its inner service.
pub(super) enum Cause {
    /// The inner service failed (or panicked) while getting ready.
    Error(BoxError),
    /// The inner service panicked in `call` (logged then, with its
    /// message; the payload is not kept, so the future stays `Sync`).
    Panic,
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn running(inner: F, protocol: Protocol) -> Self {
        ResponseFuture {
            state: State::Running { inner, protocol },
        }
    }

    pub(super) fn answer(cause: Cause, protocol: Protocol) -> Self {
        ResponseFuture {
            state: State::Answer {
                cause: Some(cause),
                protocol,
                body: PhantomData,
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
                        state.set(State::Done);
                        response
                    }
                }
            }
            StateProjection::Answer {
                cause, protocol, ..
            } => match cause.take().expect("polled after completion") {
                Cause::Error(error) => answer::error(error, *protocol),
                Cause::Panic => answer::internal(*protocol),
            },
            StateProjection::Done => panic!("polled after completion"),
        };
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Ready;

    fn send_and_sync<T: Send + Sync>() {}

    #[test]
    fn the_future_is_send_and_sync_when_what_it_wraps_is() {
        // A frame that needs `Sync` futures (a `BoxCloneSyncService`'s
        // users, a struct shared across threads) can hold the edge's: its
        // own answer keeps no panic payload, which is only `Send`.
        send_and_sync::<ResponseFuture<Ready<Result<Response<()>, BoxError>>, ()>>();
    }

    #[test]
    fn it_is_no_larger_than_its_inner_future_and_a_word_or_two() {
        type Inner = Ready<Result<Response<()>, BoxError>>;
        let inner = std::mem::size_of::<Inner>();
        let edge = std::mem::size_of::<ResponseFuture<Inner, ()>>();
        assert!(
            edge <= inner + 16,
            "edge future {edge} bytes over an inner {inner}"
        );
    }
}
