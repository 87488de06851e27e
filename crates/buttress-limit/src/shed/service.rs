//! The load shedding service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::RequestAccess;
use buttress_core::classify::AnyErrorFails;
use buttress_core::{BoxError, Reason, Rejected};
use tower_service::Service;

use super::future::{Admitted, ResponseFuture};
use super::shedder::{Admission, Shedder};

/// Sheds low-priority requests under overload; see
/// [`LoadShedLayer`](super::LoadShedLayer).
///
/// `poll_ready` only passes on the inner service's readiness; the decision
/// is made in `call`, where the request's priority is known, and a shed
/// request fails in its response future (a server must not fail in
/// `poll_ready`).
pub struct LoadShed<S> {
    inner: S,
    /// `None`: the layer is bypassed (see
    /// [`Bypass`](buttress_core::layer::Bypass)).
    shedder: Option<Arc<Shedder>>,
}

impl<S> LoadShed<S> {
    pub(crate) fn new(inner: S, shedder: Option<Arc<Shedder>>) -> Self {
        LoadShed { inner, shedder }
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

impl<S: Clone> Clone for LoadShed<S> {
    fn clone(&self) -> Self {
        LoadShed::new(self.inner.clone(), self.shedder.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for LoadShed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShed")
            .field("inner", &self.inner)
            .field("in_flight", &self.shedder.as_ref().map(|s| s.in_flight()))
            .finish()
    }
}

impl<S, Req> Service<Req> for LoadShed<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(shedder) = &self.shedder else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        match shedder.admit(&request) {
            Admission::Admit { admitted_at } => {
                let admitted = Admitted::new(shedder.clone(), admitted_at);
                ResponseFuture::admitted(self.inner.call(request), AnyErrorFails, admitted)
            }
            Admission::Shed => ResponseFuture::rejected(
                Rejected::new(Reason::Shed).with_retry_after(shedder.retry_after()),
            ),
        }
    }
}
