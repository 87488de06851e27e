//! [`ReplayMemory`]: the bytes one retry layer holds for replay, across
//! all its requests, under one cap.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How much request-body memory a retry layer may hold for replay: at
/// most `body_limit` bytes per request and `cap` bytes in total across
/// every request in flight (the layer's `body_limit` and `replay_memory`).
///
/// Shared by every clone of the layer and its services. A body that would
/// take the total past the cap is not buffered: its request is sent once,
/// as a body over `body_limit` is. Reserving is one atomic operation per
/// chunk; a request gives its bytes back when it ends.
///
/// ```
/// use buttress_retry::replay::ReplayMemory;
///
/// let memory = ReplayMemory::new(1024, 4096);
/// assert_eq!((memory.body_limit(), memory.cap(), memory.buffered()), (1024, 4096, 0));
/// ```
#[derive(Clone)]
pub struct ReplayMemory {
    inner: Arc<Inner>,
}

struct Inner {
    buffered: AtomicUsize,
    body_limit: usize,
    cap: usize,
}

impl ReplayMemory {
    /// Up to `body_limit` bytes per request, `cap` bytes in all.
    pub fn new(body_limit: usize, cap: usize) -> Self {
        ReplayMemory {
            inner: Arc::new(Inner {
                buffered: AtomicUsize::new(0),
                body_limit,
                cap,
            }),
        }
    }

    /// The most bytes one request's body may keep.
    #[inline]
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The most bytes every request together may keep.
    #[inline]
    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// The bytes kept for replay now, across every request.
    pub fn buffered(&self) -> usize {
        self.inner.buffered.load(Ordering::Relaxed)
    }

    /// Bytes still free under the cap.
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.inner.cap.saturating_sub(self.buffered())
    }

    /// Takes `bytes` from the cap, or nothing if they do not fit.
    #[inline]
    pub(crate) fn reserve(&self, bytes: usize) -> bool {
        let cap = self.inner.cap;
        self.inner
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= cap)
            })
            .is_ok()
    }

    /// Gives back `bytes` taken by [`reserve`](Self::reserve).
    #[inline]
    pub(crate) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.inner.buffered.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

impl fmt::Debug for ReplayMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayMemory")
            .field("body_limit", &self.body_limit())
            .field("cap", &self.cap())
            .field("buffered", &self.buffered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_cap() {
        let memory = ReplayMemory::new(10, 25);
        assert!(memory.reserve(10));
        assert!(memory.clone().reserve(10));
        assert!(!memory.reserve(10));
        assert!(memory.reserve(5));
        assert_eq!(memory.buffered(), 25);
        assert_eq!(memory.available(), 0);
        memory.release(20);
        assert_eq!(memory.buffered(), 5);
        assert!(!memory.reserve(usize::MAX));
    }
}
