//! The rate-limit service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::future::OrRejected;
use tower_service::Service;

use super::limiter::Limiter;

/// Admits requests within their caller's quota; see
/// [`RateLimitLayer`](super::RateLimitLayer).
///
/// `poll_ready` only passes on the inner service's readiness; the quota
/// is checked in `call`, where the request (its key, its cost) is known.
/// A refusal fails the response future, never `poll_ready`.
pub struct RateLimit<S> {
    inner: S,
    /// `None`: the layer is bypassed (see
    /// [`Bypass`](buttress_core::layer::Bypass)).
    limiter: Option<Arc<Limiter>>,
}

impl<S> RateLimit<S> {
    pub(crate) fn new(inner: S, limiter: Option<Arc<Limiter>>) -> Self {
        RateLimit { inner, limiter }
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

impl<S: Clone> Clone for RateLimit<S> {
    fn clone(&self) -> Self {
        RateLimit::new(self.inner.clone(), self.limiter.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, B> Service<http::Request<B>> for RateLimit<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = OrRejected<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(limiter) = &self.limiter else {
            return OrRejected::admitted(self.inner.call(request));
        };
        match limiter.check(&request) {
            Ok(()) => OrRejected::admitted(self.inner.call(request)),
            Err(rejected) => OrRejected::rejected_boxed(rejected),
        }
    }
}
