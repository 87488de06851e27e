//! Liveness, readiness and a report of every layer's state.
//!
//! The sink keeps, for every layer that registers, its current state and
//! gauges; [`Health`] serves them. Readiness depends only on layers the
//! user marks critical: failing readiness because a *dependency's* breaker
//! is open would take this replica out of rotation for someone else's
//! outage, and spread it.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use buttress_core::Reason;
use buttress_core::telemetry::{Describer, LayerId};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::events::{EventFeed, Feed, LayerEventKind, RejectionTally};

const GAUGE_NAMES: [&str; 5] = [
    "limit",
    "in_flight",
    "queue_depth",
    "min_rtt_seconds",
    "probability",
];

/// What the sink knows of one layer now.
#[derive(Debug)]
pub(crate) struct LayerStatus {
    id: LayerId,
    state: Mutex<Option<&'static str>>,
    gauges: [AtomicU64; 5],
    seen: [AtomicBool; 5],
    feed: Feed,
    rejections: RejectionTally,
    /// Reads the layer's running settings, when the layer gave a way to.
    settings: Settings,
}

/// A layer's settings reader, if it gave one.
#[derive(Default)]
struct Settings(Mutex<Option<Describer>>);

impl Settings {
    fn get(&self) -> Option<Describer> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() {
            "Some(..)"
        } else {
            "None"
        })
    }
}

impl LayerStatus {
    /// Keeps the layer's settings reader for the report.
    pub(crate) fn describe(&self, settings: Describer) {
        *self.settings.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }

    pub(crate) fn set_state(&self, state: &'static str) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    }

    /// A transition, for the event feed.
    pub(crate) fn changed(&self, from: &'static str, to: &'static str) {
        self.set_state(to);
        self.feed
            .send(Some(&self.id), LayerEventKind::Transition { from, to });
    }

    /// A refusal, summarised in the event feed.
    #[inline]
    pub(crate) fn rejected(&self, reason: Reason) {
        if let Some(count) = self.rejections.record() {
            self.feed
                .send(Some(&self.id), LayerEventKind::Rejections { reason, count });
        }
    }

    /// The layer as a JSON object: kind, name, state, last gauges and
    /// running settings (`config`, when the layer describes them).
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"kind\":");
        json_string(out, self.id.kind().as_str());
        out.push_str(",\"name\":");
        json_string(out, self.id.name());
        if let Some(state) = self.state() {
            out.push_str(",\"state\":");
            json_string(out, state);
        }
        for (index, name) in GAUGE_NAMES.iter().enumerate() {
            if self.seen[index].load(Ordering::Relaxed) {
                let value = f64::from_bits(self.gauges[index].load(Ordering::Relaxed));
                if value.is_finite() {
                    let _ = write!(out, ",\"{name}\":{value}");
                }
            }
        }
        if let Some(config) = self.settings.get().and_then(|describe| describe()) {
            out.push_str(",\"config\":");
            out.push_str(&config);
        }
        out.push('}');
    }

    pub(crate) fn set_gauge(&self, index: usize, value: f64) {
        self.gauges[index].store(value.to_bits(), Ordering::Relaxed);
        self.seen[index].store(true, Ordering::Relaxed);
    }

    fn state(&self) -> Option<&'static str> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct Registry {
    /// Held weakly: a layer dropped (its reporter with it) leaves the
    /// report, and a layer built again under its name is not listed twice.
    layers: Mutex<Tracked>,
    critical: Mutex<Vec<String>>,
    draining: AtomicBool,
    /// Transitions and refusal summaries, for live readers.
    feed: Feed,
}

/// The registered layers, dead ones pruned in batches: a registration
/// prunes only once the list has doubled since the last prune, so
/// registering `n` layers costs O(n) in all (not O(n²)), and the list
/// holds at most twice the live layers (and 64).
#[derive(Debug, Default)]
struct Tracked {
    layers: Vec<Weak<LayerStatus>>,
    prune_at: usize,
}

impl Tracked {
    fn push(&mut self, status: &Arc<LayerStatus>) {
        if self.layers.len() >= self.prune_at {
            self.layers.retain(|layer| layer.strong_count() > 0);
            self.prune_at = (2 * self.layers.len()).max(64);
        }
        self.layers.push(Arc::downgrade(status));
    }
}

/// The health of this process as Buttress sees it. Clones share one view.
///
/// ```
/// use buttress_metrics::Health;
///
/// let health = Health::new();
/// health.mark_critical("primary-db");
/// assert!(health.is_ready());
/// assert!(health.report_json().starts_with("{\"ready\":true"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Health {
    registry: Arc<Registry>,
}

impl Health {
    /// An empty health view.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn track(&self, id: &LayerId) -> Arc<LayerStatus> {
        let status = Arc::new(LayerStatus {
            id: id.clone(),
            state: Mutex::new(None),
            gauges: Default::default(),
            seen: Default::default(),
            feed: self.registry.feed.clone(),
            rejections: RejectionTally::default(),
            settings: Settings::default(),
        });
        self.layers().push(&status);
        status
    }

    /// The layers alive now, in the order they registered.
    fn live_layers(&self) -> Vec<Arc<LayerStatus>> {
        self.layers()
            .layers
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn layers(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.registry
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Makes readiness depend on the layer named `name`: while it is open
    /// (or forced open), this process reports not ready. Mark only what
    /// this replica cannot serve without (its own database, say).
    pub fn mark_critical(&self, name: impl Into<String>) {
        self.registry
            .critical
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.into());
    }

    /// Reports not ready from now on (to drain before shutdown), or ready
    /// again.
    pub fn set_draining(&self, draining: bool) {
        self.registry.draining.store(draining, Ordering::Relaxed);
    }

    /// Whether the process should receive traffic.
    pub fn is_ready(&self) -> bool {
        if self.registry.draining.load(Ordering::Relaxed) {
            return false;
        }
        let critical = self
            .registry
            .critical
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let layers = self.live_layers();
        !layers.iter().any(|layer| {
            critical.iter().any(|name| name == layer.id.name())
                && matches!(layer.state(), Some("open" | "forced_open"))
        })
    }

    /// Every registered layer's kind, name, state and last gauges, as JSON.
    pub fn report_json(&self) -> String {
        let mut out = String::with_capacity(256);
        let _ = write!(out, "{{\"ready\":{},\"layers\":", self.is_ready());
        out.push_str(&self.layers_json());
        out.push('}');
        out
    }

    /// Every registered layer, as a JSON array of objects (kind, name,
    /// state, last gauges).
    pub fn layers_json(&self) -> String {
        let mut out = String::from("[");
        for (i, layer) in self.live_layers().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            layer.write_json(&mut out);
        }
        out.push(']');
        out
    }

    /// The layers named `name` (one per kind: a stack's breaker and
    /// bulkhead share the stack's name), as a JSON array; `None` when no
    /// live layer has that name.
    ///
    /// ```
    /// use buttress_core::telemetry::{LayerKind, Telemetry};
    /// use buttress_metrics::MetricsSink;
    ///
    /// let sink = MetricsSink::new();
    /// let _breaker = Telemetry::with_sink(&sink, LayerKind::Breaker, "payments");
    /// let json = sink.health().layer_json("payments").unwrap();
    /// assert!(json.starts_with(r#"[{"kind":"breaker","name":"payments""#));
    /// assert!(sink.health().layer_json("nobody").is_none());
    /// ```
    pub fn layer_json(&self, name: &str) -> Option<String> {
        let mut out = String::from("[");
        let mut found = false;
        for layer in self.live_layers().iter().filter(|l| l.id.name() == name) {
            if found {
                out.push(',');
            }
            layer.write_json(&mut out);
            found = true;
        }
        out.push(']');
        found.then_some(out)
    }

    /// Follows the live event feed: transitions and summarised refusals
    /// of every layer reporting to this view, from now on (see
    /// [`EventFeed`]).
    pub fn subscribe(&self) -> EventFeed {
        self.registry.feed.subscribe()
    }

    /// Tells the event feed's readers that the service's config was
    /// reloaded (`error`: `None`), or that a reload was refused and why.
    pub fn announce_reload(&self, error: Option<String>) {
        let applied = error.is_none();
        self.registry
            .feed
            .send(None, LayerEventKind::Reload { applied, error });
    }

    /// Events the feed holds now for readers that have not read them: at
    /// most [`EVENT_BUFFER`](crate::EVENT_BUFFER), however many readers
    /// there are and however slow.
    pub fn buffered_events(&self) -> usize {
        self.registry.feed.buffered()
    }

    /// A service answering `/health/live`: 200 whenever the process can
    /// answer at all.
    pub fn live(&self) -> HealthService {
        HealthService {
            health: self.clone(),
            kind: Kind::Live,
        }
    }

    /// A service answering `/health/ready`: 200 when ready, 503 when not.
    pub fn ready(&self) -> HealthService {
        HealthService {
            health: self.clone(),
            kind: Kind::Ready,
        }
    }

    /// A service answering with [`report_json`](Self::report_json).
    pub fn report(&self) -> HealthService {
        HealthService {
            health: self.clone(),
            kind: Kind::Report,
        }
    }
}

/// Appends `text` to `out` as a JSON string, quoted and escaped: the
/// writer behind the health report and the event feed, for anything
/// that answers next to them (an admin route) without a JSON library.
///
/// ```
/// let mut out = String::new();
/// buttress_metrics::json_string(&mut out, "a \"quoted\"\nline");
/// assert_eq!(out, r#""a \"quoted\"\u000aline""#);
/// ```
pub fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Live,
    Ready,
    Report,
}

/// A health responder, usable as an axum route service or any tower
/// service over `http::Request`.
#[derive(Debug, Clone)]
pub struct HealthService {
    health: Health,
    kind: Kind,
}

impl<B> Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let (status, content_type, body) = match self.kind {
            Kind::Live => (StatusCode::OK, "text/plain", Bytes::from_static(b"live\n")),
            Kind::Ready if self.health.is_ready() => {
                (StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n"))
            }
            Kind::Ready => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                Bytes::from_static(b"not ready\n"),
            ),
            Kind::Report => (
                StatusCode::OK,
                "application/json",
                Bytes::from(self.health.report_json()),
            ),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buttress_core::telemetry::LayerKind;

    #[test]
    fn registrations_prune_dead_layers_in_batches_and_keep_every_live_one() {
        let health = Health::new();
        let kept: Vec<_> = (0..100)
            .map(|n| health.track(&LayerId::new(LayerKind::Breaker, format!("kept-{n}"))))
            .collect();
        for n in 0..100_000 {
            // Built and dropped at once, as an endpoint that never stayed.
            drop(health.track(&LayerId::new(LayerKind::Bulkhead, format!("gone-{n}"))));
        }
        let held = health.layers().layers.len();
        assert!(held <= 2 * kept.len() + 64, "{held} entries held");
        assert_eq!(health.live_layers().len(), kept.len());
    }
}
