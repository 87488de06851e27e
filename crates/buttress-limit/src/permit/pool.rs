//! A pool of permits with a bounded queue in front.

use buttress_core::telemetry::{Event, GaugeKind, Replay, Telemetry};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use buttress_core::keyed::KeyedState;
use tokio::time::Instant;

use super::counter::PermitCounter;
use super::waitlist::{QueueOrder, SlotState, WaitList};

/// What happened to a caller that found no free permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// A permit freed up meanwhile: it is the caller's.
    Acquired,
    /// The caller waits in this slot.
    Queued(usize),
    /// The queue is at capacity.
    Full,
}

#[derive(Debug)]
struct QueueState {
    list: WaitList,
    /// Since when the queue has held someone without emptying.
    busy_since: Option<Instant>,
}

/// Permits (the atomic core) plus the queue of callers waiting for one.
///
/// Taking a free permit is the lock-free fast path. Only callers that must
/// wait, and releases that find someone waiting, take the queue lock; the
/// lock is never held across an await or a call into user code.
#[derive(Debug)]
pub(crate) struct PermitPool {
    counter: PermitCounter,
    queue: Mutex<QueueState>,
    capacity: usize,
    order: QueueOrder,
    /// Where the permits' outcomes are reported, if anywhere.
    telemetry: Option<Telemetry>,
    /// Whether the pool also reports its gauges (in flight, queued) to
    /// that telemetry, on every change. Not for a keyed layer's pools,
    /// which share one registration.
    gauges: bool,
}

impl PermitPool {
    /// A pool of `limit` permits, queueing at most `capacity` callers.
    pub(crate) fn new(limit: usize, capacity: usize, order: QueueOrder) -> Self {
        PermitPool {
            counter: PermitCounter::new(limit),
            queue: Mutex::new(QueueState {
                list: WaitList::new(),
                busy_since: None,
            }),
            capacity,
            order,
            telemetry: None,
            gauges: false,
        }
    }

    /// Reports every permit's outcome (`Completed`, or `Cancelled` when a
    /// permit is dropped unfinished) to `telemetry`.
    pub(crate) fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Also reports the pool's in-flight and queue-depth gauges to its
    /// telemetry whenever they change, so that they read what
    /// [`in_flight`](Self::in_flight) and [`queued`](Self::queued) read —
    /// after a call ends however it ends (cancelled included), not only
    /// when the layer samples them.
    pub(crate) fn reporting_gauges(mut self) -> Self {
        self.gauges = true;
        self
    }

    /// Whether the pool reports its own gauges.
    pub(crate) fn reports_gauges(&self) -> bool {
        self.gauges && self.telemetry.is_some()
    }

    pub(crate) fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.as_ref()
    }

    /// Reports the in-flight gauge, if the pool reports gauges.
    #[inline]
    fn report_in_flight(&self) {
        if self.gauges {
            self.report_gauge(GaugeKind::InFlight, PermitCounter::in_flight);
        }
    }

    /// Reports both gauges, if the pool reports gauges.
    fn report_gauges(&self) {
        if self.gauges {
            self.report_gauge(GaugeKind::InFlight, PermitCounter::in_flight);
            self.report_gauge(GaugeKind::QueueDepth, PermitCounter::waiting);
        }
    }

    #[inline]
    fn report_gauge(&self, kind: GaugeKind, read: fn(&PermitCounter) -> usize) {
        if let Some(telemetry) = &self.telemetry {
            report_settled(
                kind,
                || read(&self.counter),
                |event| {
                    telemetry.report(event);
                },
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Only waker calls run under the lock; a panicking waker leaves
        // the list consistent, so a poisoned lock is still sound to use.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a free permit if nobody is queued. Lock-free, allocation-free.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let acquired = self.counter.try_acquire_uncontended();
        if acquired {
            self.report_in_flight();
        }
        acquired
    }

    /// Queues a caller that found no free permit (or takes one that freed
    /// up meanwhile). `now` marks when the queue became busy.
    pub(crate) fn enqueue(&self, now: Instant) -> Enqueued {
        let enqueued = self.enqueue_locked(now);
        self.report_gauges();
        enqueued
    }

    fn enqueue_locked(&self, now: Instant) -> Enqueued {
        if self.capacity == 0 {
            return if self.try_acquire() {
                Enqueued::Acquired
            } else {
                Enqueued::Full
            };
        }
        let mut queue = self.lock();
        self.counter.add_waiter();
        self.dispatch(&mut queue);
        let may_take = queue.list.len() == 0 || self.order == QueueOrder::Lifo;
        if may_take && self.counter.try_acquire() {
            self.counter.remove_waiter();
            return Enqueued::Acquired;
        }
        if queue.list.len() >= self.capacity {
            self.counter.remove_waiter();
            return Enqueued::Full;
        }
        if queue.list.len() == 0 {
            queue.busy_since = Some(now);
        }
        Enqueued::Queued(queue.list.push_back())
    }

    /// Hands free permits to queued callers, in queue order.
    fn dispatch(&self, queue: &mut QueueState) {
        while queue.list.peek(self.order).is_some() {
            if !self.counter.try_acquire() {
                break;
            }
            let waker = queue.list.grant_next(self.order);
            self.counter.remove_waiter();
            if queue.list.len() == 0 {
                queue.busy_since = None;
            }
            if let Some(Some(waker)) = waker {
                waker.wake();
            }
        }
    }

    /// Whether the caller in `slot` was granted a permit; if so the slot is
    /// freed and the permit is the caller's. Otherwise remembers `waker`.
    pub(crate) fn poll_granted(&self, slot: usize, waker: &std::task::Waker) -> bool {
        let mut queue = self.lock();
        match queue.list.state(slot) {
            SlotState::Granted => {
                queue.list.release(slot);
                true
            }
            _ => {
                queue.list.set_waker(slot, waker);
                false
            }
        }
    }

    /// The caller in `slot` gives up. Returns `true` if it had been granted
    /// a permit meanwhile: the permit is then the caller's to use or drop.
    pub(crate) fn cancel(&self, slot: usize) -> bool {
        let granted = {
            let mut queue = self.lock();
            match queue.list.release(slot) {
                SlotState::Granted => true,
                _ => {
                    self.counter.remove_waiter();
                    if queue.list.len() == 0 {
                        queue.busy_since = None;
                    }
                    false
                }
            }
        };
        if !granted && self.gauges {
            self.report_gauge(GaugeKind::QueueDepth, PermitCounter::waiting);
        }
        granted
    }

    /// Returns a permit, handing it to the next waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        if self.counter.release() {
            self.dispatch(&mut self.lock());
            self.report_gauges();
        } else {
            self.report_in_flight();
        }
    }

    /// Changes the number of permits; a larger limit admits waiters now, a
    /// smaller one takes effect as permits come back.
    pub(crate) fn set_limit(&self, limit: usize) {
        if self.counter.set_limit(limit) {
            self.dispatch(&mut self.lock());
            self.report_gauges();
        }
    }

    /// How long the queue has held someone without emptying, at `now`.
    pub(crate) fn busy_for(&self, now: Instant) -> Duration {
        self.lock()
            .busy_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Permits out now.
    pub(crate) fn in_flight(&self) -> usize {
        self.counter.in_flight()
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        self.counter.limit()
    }

    /// Callers queued now.
    pub(crate) fn queued(&self) -> usize {
        self.counter.waiting()
    }
}

/// A pool's gauges, for a sink that binds after the pool was built: what
/// [`in_flight`](PermitPool::in_flight) and [`queued`](PermitPool::queued)
/// read now (reported whether or not the pool reports its gauges itself).
impl Replay for PermitPool {
    fn replay(&self, report: &mut dyn FnMut(Event)) {
        report_settled(GaugeKind::InFlight, || self.in_flight(), &mut *report);
        report_settled(GaugeKind::QueueDepth, || self.queued(), &mut *report);
    }
}

/// Reports gauge `kind` as `read` reads it now, then reads it again and
/// reports again while it moved meanwhile (a few times at most: whoever
/// moved it reports too). Reports from threads racing each other may
/// reach the sink out of order; this way the last of them carries a value
/// read after the last change.
#[inline]
pub(crate) fn report_settled(
    kind: GaugeKind,
    read: impl Fn() -> usize,
    mut report: impl FnMut(Event),
) {
    let mut value = read();
    for _ in 0..4 {
        report(Event::Gauge {
            kind,
            value: value as f64,
        });
        let now = read();
        if now == value {
            return;
        }
        value = now;
    }
}

/// An idle pool (no permit out, nobody queued) is neutral: a keyed map may
/// evict it and start afresh later without anyone noticing.
impl KeyedState for PermitPool {
    fn is_neutral(&self, _now: Instant) -> bool {
        self.counter.in_flight() == 0 && self.counter.waiting() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::task::Waker;

    #[derive(Debug, Clone)]
    enum Op {
        Arrive,
        Release,
        Cancel(usize),
        Poll(usize),
        SetLimit(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Arrive),
            2 => Just(Op::Release),
            1 => (0usize..32).prop_map(Op::Cancel),
            2 => (0usize..32).prop_map(Op::Poll),
            1 => (1usize..6).prop_map(Op::SetLimit),
        ]
    }

    proptest! {
        /// Against a model: permits out never exceed the limit (unless it
        /// was lowered under them), none is lost, nobody waits while a
        /// permit is free, and the queue never exceeds its capacity.
        #[test]
        fn permits_are_conserved(ops in proptest::collection::vec(op(), 0..300), lifo: bool) {
            let order = if lifo { QueueOrder::Lifo } else { QueueOrder::Fifo };
            let pool = PermitPool::new(3, 4, order);
            let now = Instant::now();
            let mut held = 0usize;
            let mut queued: Vec<usize> = Vec::new();
            let mut limit = 3usize;
            for op in ops {
                match op {
                    Op::Arrive => {
                        if pool.try_acquire() {
                            held += 1;
                        } else {
                            match pool.enqueue(now) {
                                Enqueued::Acquired => held += 1,
                                Enqueued::Queued(slot) => queued.push(slot),
                                Enqueued::Full => prop_assert_eq!(pool.queued(), 4),
                            }
                        }
                    }
                    Op::Release if held > 0 => {
                        held -= 1;
                        pool.release();
                    }
                    Op::Cancel(pick) if !queued.is_empty() => {
                        let slot = queued.swap_remove(pick % queued.len());
                        if pool.cancel(slot) {
                            pool.release(); // granted meanwhile: returned
                        }
                    }
                    Op::Poll(pick) if !queued.is_empty() => {
                        let index = pick % queued.len();
                        if pool.poll_granted(queued[index], Waker::noop()) {
                            queued.swap_remove(index);
                            held += 1;
                        }
                    }
                    Op::SetLimit(new) => {
                        limit = new;
                        pool.set_limit(new);
                    }
                    _ => {}
                }
                prop_assert!(pool.queued() <= 4);
                let granted_uncollected = queued.len() - pool.queued();
                prop_assert_eq!(pool.in_flight(), held + granted_uncollected);
                if pool.queued() > 0 {
                    prop_assert!(pool.in_flight() >= limit, "a waiter waits while a permit is free");
                }
            }
            for slot in queued {
                if pool.cancel(slot) {
                    pool.release();
                }
            }
            for _ in 0..held {
                pool.release();
            }
            prop_assert_eq!((pool.in_flight(), pool.queued()), (0, 0));
        }
    }
}
