//! The current request's context: a future that makes its context the
//! current one while it runs, and the thread's view of it.
//!
//! tokio's `task_local!` would do the same by moving the value into a
//! thread-local slot on every poll and back out after it (three copies of
//! the context per poll, and a `RefCell` borrow per read). Here the
//! context stays where it is — inside the pinned [`Scoped`] future — and
//! the thread-local holds only its address while the future is polled or
//! dropped. This module is the only one that reads that address; readers
//! get a reference bound to a closure, so it cannot outlive the poll.

use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use super::RequestContext;

thread_local! {
    /// The context of the [`Scoped`] future being polled on this thread,
    /// or null. Only [`Enter`] writes it, and always puts back what was
    /// there, so scopes nest and unwinding restores the outer one.
    static CURRENT: Cell<*const RequestContext> = const { Cell::new(ptr::null()) };
}

/// Calls `f` with the context of the [`Scoped`] future being polled on
/// this thread, if any.
#[inline]
pub(super) fn with_current<R>(f: impl FnOnce(Option<&RequestContext>) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    // SAFETY: a non-null address was set by an `Enter` that is still
    // alive further up this thread's stack (it resets the cell when
    // dropped, unwinding included). It points either at the `context`
    // field of a pinned `Scoped`, which nothing writes while the guard
    // lives (`poll` and `drop` only read it until the guard is gone), or
    // at a context `in_scope` holds borrowed for the guard's whole life.
    // The reference is handed to `f` only, so it cannot outlive this call.
    f(unsafe { current.as_ref() })
}

/// Calls `f` with `context` current: the guard lives inside this call,
/// and `context` stays borrowed (so unmoved and unwritten) for all of it.
#[inline]
pub(super) fn in_scope<R>(context: &RequestContext, f: impl FnOnce() -> R) -> R {
    let _current = Enter::new(context);
    f()
}

/// Makes a context the current one until dropped.
struct Enter {
    entered: *const RequestContext,
    previous: *const RequestContext,
}

impl Enter {
    #[inline]
    fn new(context: &RequestContext) -> Self {
        let entered: *const RequestContext = context;
        Enter {
            entered,
            previous: CURRENT.with(|cell| cell.replace(entered)),
        }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        let current = CURRENT.with(|cell| cell.replace(self.previous));
        // Guards end in the reverse order they began, as polls nest on a
        // stack. Only a stackful coroutine suspended inside one poll and
        // resumed inside another could break that, and then the address
        // put back here might outlive its context: stop rather than let
        // a later read use it (one compare a poll).
        if current != self.entered {
            std::process::abort();
        }
    }
}

/// A future run with a request's context as the current one: made by
/// [`RequestContext::scope`]. The context is current while the future is
/// polled and while it is dropped (so an inner future's own `Drop` sees
/// it, as it would under tokio's `task_local!`).
///
/// ```
/// use buttress_core::RequestContext;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = RequestContext::starting_now();
/// let start = ctx.start();
/// let seen = ctx.scope(async { RequestContext::current().map(|c| c.start()) }).await;
/// assert_eq!(seen, Some(start));
/// # }
/// ```
pub struct Scoped<F> {
    context: RequestContext,
    // Structurally pinned; dropped in place by `Drop`, inside the scope.
    future: ManuallyDrop<F>,
}

impl<F> Scoped<F> {
    pub(super) fn new(context: RequestContext, future: F) -> Self {
        Scoped {
            context,
            future: ManuallyDrop::new(future),
        }
    }

    /// The context this future runs with.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    ///
    /// let ctx = RequestContext::starting_now();
    /// let start = ctx.start();
    /// assert_eq!(ctx.scope(async {}).context().start(), start);
    /// ```
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// The context this future runs with, to change or take from once
    /// the inner future is done (it is current only while this future is
    /// polled or dropped). The context is not pinned: only the inner
    /// future is.
    ///
    /// ```
    /// use buttress_core::RequestContext;
    /// use buttress_core::context::CorrelationId;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let id = CorrelationId::parse(b"req-1").unwrap();
    /// let ctx = RequestContext::starting_now().with_correlation_id(id.clone());
    /// let mut scoped = Box::pin(ctx.scope(async {}));
    /// scoped.as_mut().await;
    /// // Done: the ID is taken to echo, not cloned.
    /// assert_eq!(scoped.as_mut().context_mut().take_correlation_id(), Some(id));
    /// # }
    /// ```
    pub fn context_mut(self: Pin<&mut Self>) -> &mut RequestContext {
        // SAFETY: `context` is not structurally pinned; nothing here moves
        // the future.
        unsafe { &mut self.get_unchecked_mut().context }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: nothing below moves out of `this`; `context` is only
        // read, and `future` is only reached pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _current = Enter::new(&this.context);
        // SAFETY: `future` is structurally pinned: it is never moved out
        // of the pinned `Scoped`, and `Drop` drops it in place.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        future.poll(cx)
    }
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        let _current = Enter::new(&self.context);
        // SAFETY: dropped once, here, in place (so a pinned future is not
        // moved), and never used again.
        unsafe { ManuallyDrop::drop(&mut self.future) }
    }
}

impl<F> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::time::Instant;

    fn started(secs: u64) -> RequestContext {
        RequestContext::new(Instant::now() + Duration::from_secs(secs))
    }

    fn current_start() -> Option<Instant> {
        with_current(|c| c.map(RequestContext::start))
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_nest_and_each_poll_sees_its_own() {
        let (outer, inner) = (started(1), started(2));
        let (outer_start, inner_start) = (outer.start(), inner.start());
        let seen = outer
            .scope(async move {
                let before = current_start();
                let nested = inner.scope(async { current_start() }).await;
                tokio::task::yield_now().await;
                (before, nested, current_start())
            })
            .await;
        assert_eq!(
            seen,
            (Some(outer_start), Some(inner_start), Some(outer_start))
        );
        assert_eq!(current_start(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_inside_puts_the_outer_context_back() {
        let outer = started(1);
        let outer_start = outer.start();
        let seen = outer
            .scope(async {
                let inner = std::pin::pin!(started(2).scope(async { panic!("inside") }));
                let waker = std::task::Waker::noop();
                let mut cx = Context::from_waker(waker);
                let caught = catch_unwind(AssertUnwindSafe(|| {
                    let _ = inner.poll(&mut cx);
                }));
                assert!(caught.is_err());
                current_start()
            })
            .await;
        assert_eq!(seen, Some(outer_start));
        assert_eq!(current_start(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn in_scope_sets_the_context_for_one_call_and_puts_the_previous_back() {
        let (outer, inner) = (started(1), started(2));
        let (outer_start, inner_start) = (outer.start(), inner.start());
        let seen = outer
            .scope(async {
                let during = in_scope(&inner, current_start);
                let caught = catch_unwind(AssertUnwindSafe(|| {
                    in_scope(&inner, || panic!("inside"));
                }));
                assert!(caught.is_err());
                (during, current_start())
            })
            .await;
        assert_eq!(seen, (Some(inner_start), Some(outer_start)));
        assert_eq!(in_scope(&inner, current_start), Some(inner_start));
        assert_eq!(current_start(), None);
    }

    /// Records whether the context was current when it was dropped.
    struct SeesContextOnDrop(Arc<AtomicBool>);

    impl Drop for SeesContextOnDrop {
        fn drop(&mut self) {
            self.0.store(current_start().is_some(), Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_inner_future_is_dropped_inside_the_scope() {
        let seen = Arc::new(AtomicBool::new(false));
        let guard = SeesContextOnDrop(seen.clone());
        let scoped = started(1).scope(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let mut scoped = Box::pin(scoped);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(scoped.as_mut().poll(&mut cx).is_pending());
        drop(scoped);
        assert!(seen.load(Ordering::SeqCst));
        assert_eq!(current_start(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_context_can_be_taken_from_once_done() {
        let id = crate::context::CorrelationId::parse(b"abc").unwrap();
        let mut scoped = Box::pin(
            RequestContext::starting_now()
                .with_correlation_id(id.clone())
                .scope(async {}),
        );
        scoped.as_mut().await;
        assert_eq!(
            scoped.as_mut().context_mut().take_correlation_id(),
            Some(id)
        );
        assert_eq!(scoped.context().correlation_id(), None);
    }
}
