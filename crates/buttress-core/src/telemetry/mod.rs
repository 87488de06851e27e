//! How layers report what they decide (ARCHITECTURE.md, rule 9 "Every
//! layer is observable").
//!
//! A layer registers once, when it is built, with a [`LayerKind`] and a
//! name, and keeps the [`Telemetry`] handle it gets back. Per request it
//! reports [`Event`]s through the handle: `Copy` values with no text to
//! format, so the request path allocates nothing. The sink behind the
//! handle is either the process-wide one ([`install_global`]; the
//! `buttress-metrics` crate installs one feeding the `metrics` facade and
//! `tracing`) or one given to the layer ([`Telemetry::with_sink`]). A
//! layer built before the global sink is installed is bound to it when it
//! is, and first tells it its current state and gauges ([`Replay`]).
//! [`RecordingSink`] records everything for tests.
//!
//! What each kind of layer can report is a table ([`LayerKind::emits`]),
//! so that a sink keeps the series a layer can emit and no others; and a
//! sink that turns names into series claims each name ([`NameClaim`]), so
//! that two live layers of one kind given one name never merge.
//!
//! ```
//! use buttress_core::telemetry::{Event, GaugeKind, LayerKind, RecordingSink, Telemetry};
//!
//! let sink = RecordingSink::new();
//! let limit = Telemetry::with_sink(&sink, LayerKind::AdaptiveLimit, "search");
//! limit.report(Event::Gauge { kind: GaugeKind::Limit, value: 24.0 });
//! assert_eq!(sink.events_for("search").len(), 1);
//! ```

mod claim;
mod emits;
mod event;
mod handle;
mod recording;
mod settings;
mod sink;

pub use self::claim::{NameClaim, Space};
pub use self::emits::Emits;
pub use self::event::{Event, FallbackCause, GaugeKind, LayerId, LayerKind, RetryCause};
pub use self::handle::{Replay, Telemetry};
pub use self::recording::RecordingSink;
pub use self::settings::settings_json;
pub use self::sink::{
    AlreadyInstalled, Describer, LayerReporter, NoopReporter, QuietSink, TelemetrySink, global,
    install_global,
};
