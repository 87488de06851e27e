//! Overload signals: how a shedder knows it is overloaded.
//!
//! A signal reads a [`Pressure`] for each arriving request from a
//! [`Probe`] — the calls in flight, and when the signal asks for them the
//! time and how long the request has already waited — and may learn from
//! each finished call. Four are built in:
//!
//! - [`InFlightSignal`]: calls in flight with high and low watermarks
//!   (hysteresis); reads no clock — the cheapest;
//! - [`QueueDelaySignal`]: how long requests waited before reaching the
//!   layer (since the request's start instant in its `RequestContext`),
//!   CoDel-style: overloaded once that wait has stood above a target for
//!   an interval;
//! - [`LatencySignal`]: the mean latency of the calls finished in the last
//!   window against a target;
//! - [`FollowLimitSignal`]: calls in flight against an adaptive limit's
//!   current limit, for a shedder placed in front of one (the server
//!   stack's default).
//!
//! Implement [`OverloadSignal`] for anything else (CPU, memory, a
//! downstream's own shedding).

mod follow_limit;
mod in_flight;
mod latency;
mod queue_delay;

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

pub use self::follow_limit::FollowLimitSignal;
pub use self::in_flight::InFlightSignal;
pub use self::latency::LatencySignal;
pub use self::queue_delay::QueueDelaySignal;

/// What a signal reads for an arriving request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pressure {
    /// Below the low watermark: gated (low-priority) requests may pass.
    Relieved,
    /// Between the watermarks: gated requests are shed, the level holds.
    Steady,
    /// Above the high watermark: the shed level rises.
    Overloaded,
}

/// What the layer knows about an arriving request.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub(crate) in_flight: usize,
    pub(crate) now: Option<Instant>,
    pub(crate) waited: Option<Duration>,
}

impl Probe {
    /// A probe for a request arriving with `in_flight` calls in flight
    /// (itself included).
    pub fn new(in_flight: usize) -> Self {
        Probe {
            in_flight,
            now: None,
            waited: None,
        }
    }

    /// The same probe, read at `now`.
    pub fn at(mut self, now: Instant) -> Self {
        self.now = Some(now);
        self
    }

    /// The same probe, for a request that waited `waited` before reaching
    /// the layer.
    pub fn waited(mut self, waited: Duration) -> Self {
        self.waited = Some(waited);
        self
    }

    /// Calls in flight through the layer, this one included.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// When the request arrived; `None` unless the signal
    /// [needs the clock](OverloadSignal::needs_clock).
    pub fn now(&self) -> Option<Instant> {
        self.now
    }

    /// How long the request waited before reaching the layer (from the
    /// start instant in its `RequestContext`); `None` without a context,
    /// or unless the signal [asks](OverloadSignal::needs_request_start).
    pub fn queued_for(&self) -> Option<Duration> {
        self.waited
    }
}

/// A source of overload information for a
/// [`LoadShedLayer`](super::LoadShedLayer).
///
/// Called on every request, so keep it to a few atomic operations: no
/// lock, no allocation.
pub trait OverloadSignal: Send + Sync + 'static {
    /// The pressure for a request arriving now.
    fn pressure(&self, probe: &Probe) -> Pressure;

    /// A call admitted at `admitted_at` finished at `now` (called only when
    /// the signal [needs the clock](Self::needs_clock); cancelled calls
    /// are not reported).
    fn finished(&self, admitted_at: Instant, now: Instant) {
        let _ = (admitted_at, now);
    }

    /// Whether [`Probe::now`] must be set and [`finished`](Self::finished)
    /// called: reading the clock costs every request a little.
    fn needs_clock(&self) -> bool {
        false
    }

    /// Whether [`Probe::queued_for`] must be set: reading the request's
    /// context costs every request a little.
    fn needs_request_start(&self) -> bool {
        false
    }
}

/// The layer's signal: a built-in one dispatched without a virtual call,
/// or one of your own.
pub(crate) enum Signal {
    InFlight(InFlightSignal),
    QueueDelay(QueueDelaySignal),
    Latency(LatencySignal),
    Custom(Box<dyn OverloadSignal>),
}

impl Signal {
    #[inline]
    pub(crate) fn pressure(&self, probe: &Probe) -> Pressure {
        match self {
            Signal::InFlight(signal) => signal.pressure(probe),
            Signal::QueueDelay(signal) => signal.pressure(probe),
            Signal::Latency(signal) => signal.pressure(probe),
            Signal::Custom(signal) => signal.pressure(probe),
        }
    }

    #[inline]
    pub(crate) fn finished(&self, admitted_at: Instant, now: Instant) {
        match self {
            Signal::InFlight(signal) => signal.finished(admitted_at, now),
            Signal::QueueDelay(signal) => signal.finished(admitted_at, now),
            Signal::Latency(signal) => signal.finished(admitted_at, now),
            Signal::Custom(signal) => signal.finished(admitted_at, now),
        }
    }

    pub(crate) fn needs_clock(&self) -> bool {
        match self {
            Signal::InFlight(signal) => signal.needs_clock(),
            Signal::QueueDelay(signal) => signal.needs_clock(),
            Signal::Latency(signal) => signal.needs_clock(),
            Signal::Custom(signal) => signal.needs_clock(),
        }
    }

    pub(crate) fn needs_request_start(&self) -> bool {
        match self {
            Signal::InFlight(signal) => signal.needs_request_start(),
            Signal::QueueDelay(signal) => signal.needs_request_start(),
            Signal::Latency(signal) => signal.needs_request_start(),
            Signal::Custom(signal) => signal.needs_request_start(),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::InFlight(signal) => signal.fmt(f),
            Signal::QueueDelay(signal) => signal.fmt(f),
            Signal::Latency(signal) => signal.fmt(f),
            Signal::Custom(_) => f.write_str("Custom"),
        }
    }
}
