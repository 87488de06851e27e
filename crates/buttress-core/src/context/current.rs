//! The current request's context as a task-local.

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

use super::RequestContext;

tokio::task_local! {
    static CURRENT: RequestContext;
}

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
    pub fn scope<F: Future>(self, future: F) -> TaskLocalFuture<RequestContext, F> {
        CURRENT.scope(self, future)
    }

    /// A clone of the current task's context, if it runs inside
    /// [`scope`](Self::scope).
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Calls `f` with the current context, without cloning it.
    pub fn with_current<R>(f: impl FnOnce(Option<&RequestContext>) -> R) -> R {
        let mut f = Some(f);
        match CURRENT.try_with(|ctx| (f.take().expect("called once"))(Some(ctx))) {
            Ok(result) => result,
            Err(_) => (f.take().expect("not called yet"))(None),
        }
    }
}

/// Spawns `future` on the tokio runtime carrying the current request's
/// context, which a plain `tokio::spawn` would lose (a task-local belongs
/// to its task).
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
