//! [`HeapFutureLayer`]: the response future of the layers below, on the
//! heap.
//!
//! Every tower layer's `call` returns its future by value, holding the
//! future of the service inside it; each level copies what it wraps, and
//! whatever drives the stack (hyper's connection, axum's route) moves the
//! whole of it again. The server stack puts this layer just inside the
//! edge: the rate limit, shedder, adaptive limit, bulkhead and timeout
//! build their futures as usual and the result goes to the heap once, so
//! the edge, metrics and context above, and hyper, hold and move a
//! pointer. One allocation a request buys about 380 bytes off the stack's
//! future and about 400 instructions of copies end to end
//! (BENCHMARKS.md, "The server stack's future on a diet").

use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

/// Puts the response future of the service below on the heap, once per
/// call. The future keeps its type (no `dyn`, unlike tower's
/// `BoxService`): polling it is a direct call through one pointer. Worth
/// it where a deep stack's future is moved often; the server stack uses
/// it inside its edge.
///
/// ```
/// use buttress::stack::HeapFutureLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let inner = service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n + 1) });
/// let service = HeapFutureLayer.layer(inner);
/// assert_eq!(service.oneshot(1).await.unwrap(), 2);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HeapFutureLayer;

impl<S> Layer<S> for HeapFutureLayer {
    type Service = HeapFuture<S>;

    fn layer(&self, inner: S) -> HeapFuture<S> {
        HeapFuture { inner }
    }
}

/// The service of [`HeapFutureLayer`]: the inner service, its future
/// boxed.
#[derive(Debug, Clone)]
pub struct HeapFuture<S> {
    inner: S,
}

impl<S: Service<R>, R> Service<R> for HeapFuture<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<S::Future>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: R) -> Self::Future {
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    #[tokio::test]
    async fn the_answer_and_readiness_pass_through_unchanged() {
        let inner = service_fn(|n: u32| async move { Ok::<_, Infallible>(n * 2) });
        let service = HeapFutureLayer.layer(inner);
        assert_eq!(service.oneshot(21).await.unwrap(), 42);
    }

    #[test]
    fn the_future_is_a_pointer_whatever_it_holds() {
        let inner = service_fn(|_: ()| async { Ok::<_, Infallible>([0u8; 1024]) });
        let mut service = HeapFutureLayer.layer(inner);
        let future = service.call(());
        assert_eq!(std::mem::size_of_val(&future), std::mem::size_of::<usize>());
    }
}
