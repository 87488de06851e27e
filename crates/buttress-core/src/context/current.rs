//! The current request's context: the API over [`scope`](super::scope).

use std::future::Future;

use super::RequestContext;
use super::scope::{self, Scoped};

impl RequestContext {
    /// Runs `future` with `self` as the current context: client layers
    /// called from within it find the context without the handler passing
    /// it by hand.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ctx = RequestContext::starting_now();
    /// let start = ctx.start();
    /// let seen = ctx.scope(async { RequestContext::current().map(|c| c.start()) }).await;
    /// assert_eq!(seen, Some(start));
    /// assert!(RequestContext::current().is_none());
    /// # }
    /// ```
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped::new(self, future)
    }

    /// Calls `f` with `self` as the current context: what
    /// [`scope`](Self::scope) does for each poll of a future, for one
    /// synchronous call. A server layer calls its inner service in it, so
    /// that the layers inside find the request's context without a copy
    /// of it in the request's extensions.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ctx = RequestContext::starting_now();
    /// let seen = ctx.in_scope(|| RequestContext::current().map(|c| c.start()));
    /// assert_eq!(seen, Some(ctx.start()));
    /// assert!(RequestContext::current().is_none());
    /// # }
    /// ```
    #[inline]
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        scope::in_scope(self, f)
    }

    /// A clone of the current task's context, if it runs inside
    /// [`scope`](Self::scope).
    pub fn current() -> Option<RequestContext> {
        scope::with_current(|ctx| ctx.cloned())
    }

    /// Calls `f` with the context of `request`, without cloning it: the
    /// one in its extensions (the request was built with it), else the
    /// current one (inside a server stack, the request being served; in a
    /// client call made while serving, that request's). Every layer finds
    /// a request's context this way.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ctx = RequestContext::starting_now();
    /// let start = ctx.start();
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(ctx);
    /// assert_eq!(RequestContext::with_request(&request, |c| c.map(|c| c.start())), Some(start));
    ///
    /// let bare = http::Request::new(());
    /// let scoped = RequestContext::starting_now();
    /// let seen = scoped
    ///     .clone()
    ///     .scope(async { RequestContext::with_request(&bare, |c| c.map(|c| c.start())) })
    ///     .await;
    /// assert_eq!(seen, Some(scoped.start()));
    /// # }
    /// ```
    #[inline]
    pub fn with_request<Req, R>(request: &Req, f: impl FnOnce(Option<&RequestContext>) -> R) -> R
    where
        Req: crate::access::RequestAccess,
    {
        match request
            .extensions()
            .and_then(RequestContext::from_extensions)
        {
            Some(ctx) => f(Some(ctx)),
            None => Self::with_current(f),
        }
    }

    /// Calls `f` with the current context, without cloning it.
    #[inline]
    pub fn with_current<R>(f: impl FnOnce(Option<&RequestContext>) -> R) -> R {
        scope::with_current(f)
    }
}

/// Spawns `future` on the tokio runtime carrying the current request's
/// context, which a plain `tokio::spawn` would lose (the current context
/// belongs to the future that [`scope`](RequestContext::scope)s it).
///
/// ```
/// use buttress_core::{RequestContext, context::spawn_with_context};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = RequestContext::starting_now();
/// let start = ctx.start();
/// let handle = ctx
///     .scope(async { spawn_with_context(async { RequestContext::current().map(|c| c.start()) }) })
///     .await;
/// assert_eq!(handle.await.unwrap(), Some(start));
/// # }
/// ```
pub fn spawn_with_context<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match RequestContext::current() {
        Some(ctx) => tokio::spawn(async move { ctx.scope(future).await }),
        None => tokio::spawn(future),
    }
}
