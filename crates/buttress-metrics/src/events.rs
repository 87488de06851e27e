//! A live feed of what operators watch layers for: state transitions
//! (a breaker opening, a shedder raising its level) and refusals.
//!
//! The feed is a fixed ring ([`EVENT_BUFFER`] events) that every reader
//! follows at its own pace: sending never waits for a reader, and a reader
//! that falls behind skips what was overwritten and is told how much it
//! missed ([`FeedItem::Missed`]). Memory is the ring's, whatever the
//! number or speed of readers. Refusals come in floods exactly when an
//! operator is looking, so they are summarised: at most one event per
//! layer per [`REJECTION_SUMMARY`], counting every refusal since the last.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use buttress_core::Reason;
use buttress_core::clock;
use buttress_core::telemetry::LayerId;
use tokio::sync::broadcast;

use crate::health::json_string;

/// How many events the feed keeps for readers that have not read them yet.
pub const EVENT_BUFFER: usize = 256;

/// The shortest time between two refusal summaries of one layer.
pub const REJECTION_SUMMARY: Duration = Duration::from_millis(250);

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerEventKind {
    /// The layer moved between states.
    Transition {
        /// The state left.
        from: &'static str,
        /// The state entered.
        to: &'static str,
    },
    /// The layer refused `count` requests since its last summary, the
    /// latest for `reason`.
    Rejections {
        /// The latest refusal's reason.
        reason: Reason,
        /// Refusals since the last summary.
        count: u64,
    },
    /// The service's config was reloaded, or a reload was refused (the
    /// config in force did not change). Not a layer's event: its `layer`
    /// is `None`.
    Reload {
        /// Whether the new config was applied.
        applied: bool,
        /// Why it was refused: the field path and the problem.
        error: Option<String>,
    },
}

/// One event of the feed: which layer, what, and when (wall clock).
#[derive(Debug, Clone)]
pub struct LayerEvent {
    /// The layer's kind and name; `None` for an event of the whole
    /// service (a reload).
    pub layer: Option<LayerId>,
    /// What happened.
    pub kind: LayerEventKind,
    /// When, as wall-clock time.
    pub at: SystemTime,
}

impl LayerEvent {
    /// The event's type, as the admin stream names it: `transition` or
    /// `rejections`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            LayerEventKind::Transition { .. } => "transition",
            LayerEventKind::Rejections { .. } => "rejections",
            LayerEventKind::Reload { .. } => "reload",
        }
    }

    /// The event as one line of JSON.
    ///
    /// ```
    /// use buttress_core::telemetry::{Event, LayerKind, Telemetry};
    /// use buttress_metrics::{FeedItem, MetricsSink};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sink = MetricsSink::new();
    /// let mut feed = sink.health().subscribe();
    /// let breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
    /// breaker.report(Event::StateChanged { from: "closed", to: "open" });
    /// let FeedItem::Event(event) = feed.next().await.unwrap() else { panic!() };
    /// assert!(event.to_json().starts_with(
    ///     r#"{"kind":"breaker","name":"payments","event":"transition","from":"closed","to":"open""#
    /// ));
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push('{');
        if let Some(layer) = &self.layer {
            out.push_str("\"kind\":");
            json_string(&mut out, layer.kind().as_str());
            out.push_str(",\"name\":");
            json_string(&mut out, layer.name());
            out.push(',');
        }
        let _ = write!(out, "\"event\":\"{}\"", self.name());
        match &self.kind {
            LayerEventKind::Transition { from, to } => {
                out.push_str(",\"from\":");
                json_string(&mut out, from);
                out.push_str(",\"to\":");
                json_string(&mut out, to);
            }
            LayerEventKind::Rejections { reason, count } => {
                out.push_str(",\"reason\":");
                json_string(&mut out, reason.as_str());
                let _ = write!(out, ",\"count\":{count}");
            }
            LayerEventKind::Reload { applied, error } => {
                let _ = write!(out, ",\"applied\":{applied}");
                if let Some(error) = error {
                    out.push_str(",\"error\":");
                    json_string(&mut out, error);
                }
            }
        }
        let millis = self
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let _ = write!(out, ",\"at_ms\":{millis}}}");
        out
    }
}

/// What a reader of the feed gets next.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// The next event.
    Event(LayerEvent),
    /// This many events were overwritten before this reader got to them.
    Missed(u64),
}

/// One reader of the feed ([`Health::subscribe`](crate::Health::subscribe)).
#[derive(Debug)]
pub struct EventFeed {
    receiver: broadcast::Receiver<LayerEvent>,
}

impl EventFeed {
    /// Waits for the next item; `None` once the feed's health view is
    /// gone.
    pub async fn next(&mut self) -> Option<FeedItem> {
        match self.receiver.recv().await {
            Ok(event) => Some(FeedItem::Event(event)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(FeedItem::Missed(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// The sending side, one per health view.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    sender: broadcast::Sender<LayerEvent>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            sender: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl Feed {
    pub(crate) fn subscribe(&self) -> EventFeed {
        EventFeed {
            receiver: self.sender.subscribe(),
        }
    }

    /// Events kept now for readers behind (at most [`EVENT_BUFFER`]).
    pub(crate) fn buffered(&self) -> usize {
        self.sender.len()
    }

    pub(crate) fn send(&self, layer: Option<&LayerId>, kind: LayerEventKind) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let event = LayerEvent {
            layer: layer.cloned(),
            kind,
            at: SystemTime::now(),
        };
        // No reader left between the check and here: nothing to do.
        let _ = self.sender.send(event);
    }
}

/// Refusals of one layer since its last summary. The request path pays
/// one atomic add and one load; only the refusal that finds the interval
/// over sends.
#[derive(Debug, Default)]
pub(crate) struct RejectionTally {
    pending: AtomicU64,
    next_due: AtomicU64,
}

impl RejectionTally {
    /// Counts one refusal; the count to summarise, when one is due.
    pub(crate) fn record(&self) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let now = clock::ticks(clock::now());
        let due = self.next_due.load(Ordering::Relaxed);
        if now < due {
            return None;
        }
        let next = now.saturating_add(clock::nanos(REJECTION_SUMMARY));
        self.next_due
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.pending.swap(0, Ordering::Relaxed))
    }
}
