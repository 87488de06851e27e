//! The overloaded server's handler: its capacity is bounded by sleeps,
//! not by CPU, so the load generator sharing the two cores cannot change
//! it. Each request holds one of a fixed number of worker slots for a
//! fixed time (tokio's FIFO semaphore, then a sleep), as a server with a
//! pool of workers or database connections would.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tower::Service;

use crate::load::answer::{self, Body};

/// The server's capacity: `slots` requests at once, `work` each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Capacity {
    pub(crate) slots: usize,
    pub(crate) work: Duration,
}

impl Capacity {
    /// Requests per second with every slot always busy.
    pub(crate) fn per_sec(self) -> f64 {
        self.slots as f64 / self.work.as_secs_f64()
    }
}

/// How long requests actually held their slots: tokio's timer wheel
/// has millisecond ticks, so a sleep lasts up to ~1 ms longer than asked,
/// and the capacity the server truly has is `slots / mean hold`.
#[derive(Debug, Default)]
pub(crate) struct SlotUse {
    held_ns: AtomicU64,
    requests: AtomicU64,
}

impl SlotUse {
    /// The mean time a request held its slot, since the last call.
    pub(crate) fn take_mean_hold(&self) -> Option<Duration> {
        let held = self.held_ns.swap(0, Ordering::Relaxed);
        let requests = self.requests.swap(0, Ordering::Relaxed);
        (requests > 0).then(|| Duration::from_nanos(held / requests))
    }
}

/// The handler: waits for a slot, holds it for `capacity.work`, answers
/// 200 "ok".
pub(crate) fn slow_handler(
    capacity: Capacity,
    slot_use: Arc<SlotUse>,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    let slots = Arc::new(Semaphore::new(capacity.slots));
    tower::service_fn(move |_: Request<Incoming>| {
        let slots = slots.clone();
        let slot_use = slot_use.clone();
        async move {
            let _slot = slots.acquire().await.expect("never closed");
            let held_from = Instant::now();
            tokio::time::sleep(capacity.work).await;
            let held = held_from.elapsed().as_nanos() as u64;
            slot_use.held_ns.fetch_add(held, Ordering::Relaxed);
            slot_use.requests.fetch_add(1, Ordering::Relaxed);
            Ok(answer::ok())
        }
    })
}
