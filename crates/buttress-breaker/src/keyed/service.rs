//! The keyed breaker service.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::{BoxError, Classify};
use tower_service::Service;

use super::KeyedShared;
use crate::future::ResponseFuture;
use crate::service::{Gate, gate};
use crate::shared::current_lane;
use crate::track::{Target, Tracker};

/// A breaker per key in front of a service `S`: the key `K` comes from
/// each request through `E: Fn(&Req) -> K`, the verdict from `C`. Built by
/// [`KeyedCircuitBreakerLayer`](crate::KeyedCircuitBreakerLayer); clones
/// share the breakers.
pub struct KeyedCircuitBreaker<S, K, E, C> {
    inner: S,
    shared: Arc<KeyedShared<K>>,
    extract: E,
    classifier: C,
}

impl<S, K, E, C> KeyedCircuitBreaker<S, K, E, C> {
    pub(crate) fn new(inner: S, shared: Arc<KeyedShared<K>>, extract: E, classifier: C) -> Self {
        KeyedCircuitBreaker {
            inner,
            shared,
            extract,
            classifier,
        }
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

impl<S: Clone, K, E: Clone, C: Clone> Clone for KeyedCircuitBreaker<S, K, E, C> {
    fn clone(&self) -> Self {
        KeyedCircuitBreaker {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            extract: self.extract.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, K, E, C> fmt::Debug for KeyedCircuitBreaker<S, K, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("inner", &self.inner)
            .field("keys", &self.shared.map)
            .finish()
    }
}

impl<S, K, E, C, Req> Service<Req> for KeyedCircuitBreaker<S, K, E, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    E: Fn(&Req) -> K,
    C: Classify<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.extract)(&req);
        let entry = self
            .shared
            .map
            .get_or_insert_with(&key, || self.shared.make());
        match gate(&entry) {
            Gate::Admit { ticket, start } => {
                let tracker = Tracker::new(Target::Keyed(entry), ticket, current_lane(), start);
                ResponseFuture::admitted(self.inner.call(req), self.classifier.clone(), tracker)
            }
            Gate::Reject(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
