//! What one [`Retry`](crate::Retry) service and its response futures
//! share: the layer's [`Shared`] and the service retries go through.

use std::sync::{Arc, Mutex, PoisonError};

use crate::shared::Shared;

/// Built once per wrapped service (clones of the service share it).
///
/// A response future that may retry holds this, one reference count,
/// rather than its own clone of the inner service: a stack's service is
/// a chain of layers, each a reference count or more (128 bytes and five
/// counts in the default client stack), and most requests are never
/// retried. A request's first retry clones the template instead, and
/// that clone, made ready before each attempt, serves its retries.
pub(crate) struct Bound<S, P, C> {
    pub(crate) shared: Arc<Shared<P, C>>,
    /// A clone of the service as the layer wrapped it. Behind a lock so
    /// that this is `Sync` for services that are only `Send` (a
    /// `BoxCloneService`); the lock is taken only to clone, once per
    /// retried request.
    template: Mutex<S>,
}

impl<S: Clone, P, C> Bound<S, P, C> {
    pub(crate) fn new(inner: &S, shared: Arc<Shared<P, C>>) -> Self {
        Bound {
            shared,
            template: Mutex::new(inner.clone()),
        }
    }

    /// A fresh clone of the wrapped service, not yet ready.
    pub(crate) fn service(&self) -> S {
        // A clone that panicked leaves the template as it was.
        self.template
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
