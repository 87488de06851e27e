//! The bulkhead service.

use buttress_core::clock;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use buttress_core::access::RequestAccess;
use buttress_core::telemetry::{Event, GaugeKind};
use buttress_core::{BoxError, Reason, Rejected};
use tower_service::Service;

use super::config::Settings;
use super::future::ResponseFuture;
use super::scope::{Global, KeyPool, KeySlot, PerKey, Seat};
use crate::permit::{self, Permit, PoolRef, SlowPath};
use crate::release::{OnResponse, ReleasePolicy};
use buttress_core::keyed::KeyedEntry;

/// Limits the calls in flight to an inner service; see
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// `poll_ready` only passes on the inner service's readiness. Capacity is
/// taken in `call`, where the request (its key, its deadline) is known: a
/// free slot is taken at once, without a lock or an allocation; otherwise
/// the call queues, and the response future waits — for at most the
/// configured wait, and never past the request's deadline — holding the
/// ready inner service and the request until a slot frees.
pub struct Bulkhead<S, K = Global, R = OnResponse> {
    inner: S,
    /// `None`: the layer is bypassed (see
    /// [`Bypass`](buttress_core::layer::Bypass)).
    guard: Option<Guard<K>>,
    _release: PhantomData<fn() -> R>,
}

/// What a bulkhead that is on holds: where its permits come from, and its
/// settings.
#[derive(Clone, Debug)]
struct Guard<K> {
    scope: K,
    settings: Arc<Settings>,
}

impl<S, K, R> Bulkhead<S, K, R> {
    pub(crate) fn new(inner: S, scope: K, settings: Arc<Settings>) -> Self {
        Bulkhead {
            inner,
            guard: Some(Guard { scope, settings }),
            _release: PhantomData,
        }
    }

    pub(crate) fn bypassed(inner: S) -> Self {
        Bulkhead {
            inner,
            guard: None,
            _release: PhantomData,
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

impl<S: Clone, K: Clone, R> Clone for Bulkhead<S, K, R> {
    fn clone(&self) -> Self {
        Bulkhead {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
            _release: PhantomData,
        }
    }
}

impl<S: fmt::Debug, K: fmt::Debug, R> fmt::Debug for Bulkhead<S, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("inner", &self.inner)
            .field("scope", &self.guard.as_ref().map(|guard| &guard.scope))
            .finish()
    }
}

/// Admits `request` against `source`: at once if a slot is free, else
/// through the queue.
fn admit<S, Req, R>(
    inner: &mut S,
    settings: &Arc<Settings>,
    source: PoolRef,
    request: Req,
) -> ResponseFuture<S, Req, R>
where
    S: Service<Req> + Clone,
    Req: RequestAccess,
{
    if source.pool().try_acquire() {
        settings.telemetry.report(Event::Admitted);
        let permit = Permit::new(source);
        return ResponseFuture::running(inner.call(request), permit, None);
    }
    admit_slow(inner, settings, source, request, false)
}

/// Admits `request` on its key's pool, holding `seat` (its place under
/// `max_total`): at once if the key has a free slot, else through the
/// key's queue. The fast path takes no lock and allocates nothing.
fn admit_keyed<S, Req, R>(
    inner: &mut S,
    settings: &Arc<Settings>,
    seat: Seat<'_>,
    entry: KeyedEntry<KeySlot>,
    request: Req,
) -> ResponseFuture<S, Req, R>
where
    S: Service<Req> + Clone,
    Req: RequestAccess,
{
    // `entry` pins the key in the map until its permit or ticket is
    // taken (from then on the busy pool is not evicted).
    let key = entry.key_pool();
    if key.pool().try_acquire() {
        settings.telemetry.report(Event::Admitted);
        let permit = seat.into_permit(key);
        return ResponseFuture::running(inner.call(request), permit, Some(settings.clone()));
    }
    admit_keyed_slow(inner, settings, seat, key, request)
}

#[cold]
fn admit_keyed_slow<S, Req, R>(
    inner: &mut S,
    settings: &Arc<Settings>,
    seat: Seat<'_>,
    key: &Arc<KeyPool>,
    request: Req,
) -> ResponseFuture<S, Req, R>
where
    S: Service<Req> + Clone,
    Req: RequestAccess,
{
    if settings.max_wait().is_zero() {
        // No wait, so no waiter to allocate: one more try, else refused
        // (the seat is given back as it drops).
        if key.pool().try_acquire() {
            settings.telemetry.report(Event::Admitted);
            let permit = seat.into_permit(key);
            return ResponseFuture::running(inner.call(request), permit, Some(settings.clone()));
        }
        return refuse(settings, Reason::BulkheadFull);
    }
    admit_slow(inner, settings, seat.into_waiter(key), request, true)
}

/// A refusal for `reason`, reported, with the layer's retry hint.
#[cold]
fn refuse<S, Req, R>(settings: &Settings, reason: Reason) -> ResponseFuture<S, Req, R>
where
    S: Service<Req>,
{
    settings.telemetry.report(Event::Rejected(reason));
    ResponseFuture::refused(Rejected::new(reason).with_retry_after(settings.retry_after()))
}

#[cold]
fn admit_slow<S, Req, R>(
    inner: &mut S,
    settings: &Arc<Settings>,
    source: PoolRef,
    request: Req,
    keyed: bool,
) -> ResponseFuture<S, Req, R>
where
    S: Service<Req> + Clone,
    Req: RequestAccess,
{
    let now = clock::now();
    let deadline = permit::deadline_of(&request);
    // A keyed layer's future reports how its calls end (its pools do
    // not); a global pool reports through its permits.
    let reporter = keyed.then(|| settings.clone());
    match permit::queue_for(source, settings.max_wait(), deadline, now) {
        SlowPath::Acquired(permit) => {
            settings.telemetry.report(Event::Admitted);
            ResponseFuture::running(inner.call(request), permit, reporter)
        }
        SlowPath::Full => refuse(settings, Reason::BulkheadFull),
        SlowPath::PastDeadline => refuse(settings, Reason::QueueTimeout),
        SlowPath::Queued(wait) => {
            // A pool that reports its own gauges (the global one) already
            // did; a keyed layer reports the depth of the key's queue.
            if !wait.reports_gauges() {
                settings.telemetry.report(Event::Gauge {
                    kind: GaugeKind::QueueDepth,
                    value: wait.queued() as f64,
                });
            }
            // The ready instance goes with the request; this handle keeps
            // a fresh clone for the next call (tower's `Oneshot` idiom).
            let ready = std::mem::replace(inner, inner.clone());
            ResponseFuture::queued(wait, ready, request, settings.clone(), reporter)
        }
    }
}

impl<S, Req, R> Service<Req> for Bulkhead<S, Global, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
    R: ReleasePolicy<S::Response>,
{
    type Response = R::Output;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(Guard { scope, settings }) = &self.guard else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        admit(&mut self.inner, settings, scope.select(), request)
    }
}

impl<S, Req, R, F, K> Service<Req> for Bulkhead<S, PerKey<F, K>, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: RequestAccess,
    R: ReleasePolicy<S::Response>,
    F: Fn(&Req) -> K,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Response = R::Output;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let Some(Guard { scope, settings }) = &self.guard else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        match scope.enter(&request) {
            Some((seat, entry)) => admit_keyed(&mut self.inner, settings, seat, entry, request),
            // Every place under `max_total` is held: refused at once,
            // whatever the key, as a full bulkhead refuses.
            None => refuse(settings, Reason::BulkheadFull),
        }
    }
}
