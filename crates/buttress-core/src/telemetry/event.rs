//! What a layer reports: who it is and what it decided.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Outcome, Reason};

/// The kind of layer reporting, a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayerKind {
    /// A circuit breaker.
    Breaker,
    /// A bulkhead.
    Bulkhead,
    /// An adaptive concurrency limit (backpressure).
    AdaptiveLimit,
    /// Priority load shedding.
    Shed,
    /// Client-side adaptive throttling.
    Throttle,
    /// Per-caller rate limiting.
    RateLimit,
    /// Retry policy.
    Retry,
    /// Timeout and deadline enforcement.
    Timeout,
    /// Fallback answers.
    Fallback,
    /// Fault injection.
    Chaos,
    /// Request context propagation.
    Context,
    /// The edge that turns rejections into answers.
    Edge,
    /// RED metrics (rate, errors, duration) for a server or a client.
    Red,
    /// A client balancer over a dependency's replicas, and each replica
    /// it tracks (`<balancer>/<endpoint>`).
    Balance,
}

impl LayerKind {
    /// A stable `snake_case` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            LayerKind::Breaker => "breaker",
            LayerKind::Bulkhead => "bulkhead",
            LayerKind::AdaptiveLimit => "adaptive_limit",
            LayerKind::Shed => "shed",
            LayerKind::Throttle => "throttle",
            LayerKind::RateLimit => "rate_limit",
            LayerKind::Retry => "retry",
            LayerKind::Timeout => "timeout",
            LayerKind::Fallback => "fallback",
            LayerKind::Chaos => "chaos",
            LayerKind::Context => "context",
            LayerKind::Edge => "edge",
            LayerKind::Red => "red",
            LayerKind::Balance => "balance",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layer's identity: its kind and the name it was given at build
/// (`"payments"`, `"inventory-db"`). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerId {
    kind: LayerKind,
    name: Arc<str>,
}

impl LayerId {
    /// An identity for a layer of `kind` named `name`.
    pub fn new(kind: LayerKind, name: impl Into<Arc<str>>) -> Self {
        LayerId {
            kind,
            name: name.into(),
        }
    }

    /// The layer's kind.
    pub const fn kind(&self) -> LayerKind {
        self.kind
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A level a layer exposes as a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaugeKind {
    /// The current concurrency or rate limit.
    Limit,
    /// Calls in flight.
    InFlight,
    /// Calls waiting in a queue.
    QueueDepth,
    /// The smallest round-trip time seen, in seconds.
    MinRtt,
    /// A probability in 0..=1 (of throttling, of shedding).
    Probability,
}

impl GaugeKind {
    /// A stable `snake_case` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            GaugeKind::Limit => "limit",
            GaugeKind::InFlight => "in_flight",
            GaugeKind::QueueDepth => "queue_depth",
            GaugeKind::MinRtt => "min_rtt_seconds",
            GaugeKind::Probability => "probability",
        }
    }
}

/// Why a retry was sent: what the failed attempt ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryCause {
    /// A retryable HTTP status (502, 503, 504, 429 by default).
    Status,
    /// A retryable gRPC status (UNAVAILABLE by default).
    Grpc,
    /// A transport error, or a fault injected in its place.
    Transport,
    /// The attempt hit its per-attempt timeout.
    Timeout,
    /// An inner layer refused the call before sending it (retried only
    /// when configured).
    LocalRejection,
}

impl RetryCause {
    /// Every cause, for pre-resolving one handle each.
    pub const ALL: [RetryCause; 5] = [
        RetryCause::Status,
        RetryCause::Grpc,
        RetryCause::Transport,
        RetryCause::Timeout,
        RetryCause::LocalRejection,
    ];

    /// A stable `snake_case` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RetryCause::Status => "status",
            RetryCause::Grpc => "grpc",
            RetryCause::Transport => "transport",
            RetryCause::Timeout => "timeout",
            RetryCause::LocalRejection => "local_rejection",
        }
    }

    /// The position of this cause in [`RetryCause::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a fallback answer was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackCause {
    /// The call was rejected, for this reason.
    Rejected(Reason),
    /// The call failed (by the classifier).
    Failure,
}

/// One thing a layer decided or observed. `Copy`, and holding only
/// `'static` text, so reporting it allocates and formats nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A request was admitted.
    Admitted,
    /// A request was refused, for this reason.
    Rejected(Reason),
    /// A call ended with this outcome after `duration`.
    Completed {
        /// How the call was judged.
        outcome: Outcome,
        /// How long the call took, from admission; zero when the layer
        /// does not time its calls (sinks should not record it then).
        duration: Duration,
    },
    /// The layer moved between states (e.g. a breaker `closed` → `open`).
    /// A sink shows `to` as the current state (not merely `from` no longer):
    /// changes made at once on different threads may reach it out of order.
    StateChanged {
        /// The state left.
        from: &'static str,
        /// The state entered.
        to: &'static str,
    },
    /// The layer is in this state now. Not a change (it counts no
    /// transition): what a layer tells a sink that bound to it after it
    /// was built (see [`Replay`](super::Replay)), or after reporting
    /// changes that may have reached the sink out of order.
    State(&'static str),
    /// A retry is about to be sent; `attempt` counts the first call as 1.
    Retry {
        /// The attempt number of the retry (2 for the first retry).
        attempt: u32,
        /// The backoff before it.
        backoff: Duration,
        /// What the failed attempt ended with.
        cause: RetryCause,
    },
    /// A request waited this long in a queue before being admitted or
    /// refused.
    Waited(Duration),
    /// A gauge's new value.
    Gauge {
        /// Which gauge.
        kind: GaugeKind,
        /// Its value.
        value: f64,
    },
    /// A fallback answer was served instead of the real one.
    FallbackServed(FallbackCause),
    /// A retry was wanted but the retry budget was spent.
    BudgetExhausted,
    /// A hedge — another attempt of a request still in flight — was sent.
    HedgeSent {
        /// Its attempt number (2 for the first hedge).
        attempt: u32,
        /// How long after the first attempt.
        after: Duration,
    },
    /// A hedged request ended: which attempt won, and how many attempts
    /// still in flight were cancelled.
    HedgeSettled {
        /// Whether a hedge, not the first attempt, gave the answer.
        won_by_hedge: bool,
        /// The losing attempts dropped when the answer came.
        cancelled: u32,
    },
}
