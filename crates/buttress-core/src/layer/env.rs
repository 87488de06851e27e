//! [`BuildEnv`]: what a layer is built in.

use std::fmt;
use std::sync::Arc;

use crate::telemetry::{LayerId, LayerKind, Telemetry, TelemetrySink};

/// What a layer is built in: the name it reports under unless its config
/// names it, and the telemetry sink it reports to unless the process-wide
/// one. Builders keep one; stacks hand theirs to every layer they build.
///
/// ```
/// use buttress_core::layer::BuildEnv;
/// use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
///
/// let sink = RecordingSink::new();
/// let env = BuildEnv::named("checkout").with_sink(sink.clone());
/// assert_eq!(&*env.name_for(LayerKind::Breaker, None), "checkout");
/// assert_eq!(&*env.name_for(LayerKind::Breaker, Some("payments")), "payments");
/// assert_eq!(&*BuildEnv::default().name_for(LayerKind::Breaker, None), "breaker");
///
/// env.telemetry(LayerKind::Breaker, None).report(Event::Admitted);
/// assert_eq!(sink.events_for("checkout").len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct BuildEnv {
    name: Option<Arc<str>>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl BuildEnv {
    /// An environment naming its layers `name`.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        BuildEnv {
            name: Some(name.into()),
            sink: None,
        }
    }

    /// The same environment, naming its layers `name`.
    pub fn with_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.set_name(name);
        self
    }

    /// The same environment, reporting to `sink` rather than to the
    /// process-wide sink. An `Arc<dyn TelemetrySink>` is a sink too, so
    /// one sink can be shared by many environments.
    pub fn with_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.set_sink(sink);
        self
    }

    /// Names the layers built here `name`.
    pub fn set_name(&mut self, name: impl Into<Arc<str>>) {
        self.name = Some(name.into());
    }

    /// Reports to `sink` rather than to the process-wide sink.
    pub fn set_sink(&mut self, sink: impl TelemetrySink) {
        self.sink = Some(into_shared(sink));
    }

    /// The name given to this environment, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The sink given to this environment, if any.
    pub fn sink(&self) -> Option<&Arc<dyn TelemetrySink>> {
        self.sink.as_ref()
    }

    /// The name a layer of `kind` reports under: its own (`own`, from its
    /// config), else this environment's, else the kind's label.
    pub fn name_for(&self, kind: LayerKind, own: Option<&str>) -> Arc<str> {
        match (own, &self.name) {
            (Some(own), _) => Arc::from(own),
            (None, Some(name)) => name.clone(),
            (None, None) => Arc::from(kind.as_str()),
        }
    }

    /// The identity a layer of `kind` reports under (see
    /// [`name_for`](Self::name_for)).
    pub fn id_for(&self, kind: LayerKind, own: Option<&str>) -> LayerId {
        LayerId::new(kind, self.name_for(kind, own))
    }

    /// Registers a layer of `kind` with this environment's sink, or with
    /// the process-wide one (bound late if it is installed later).
    pub fn telemetry(&self, kind: LayerKind, own: Option<&str>) -> Telemetry {
        let name = self.name_for(kind, own);
        match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, kind, name),
            None => Telemetry::register(kind, name),
        }
    }
}

/// Keeps an `Arc<dyn TelemetrySink>` as it is rather than boxing it again.
fn into_shared(sink: impl TelemetrySink) -> Arc<dyn TelemetrySink> {
    let mut slot = Some(sink);
    let any: &mut dyn std::any::Any = &mut slot;
    match any.downcast_mut::<Option<Arc<dyn TelemetrySink>>>() {
        Some(shared) => shared.take().expect("taken once"),
        None => Arc::new(slot.take().expect("taken once")),
    }
}

impl fmt::Debug for BuildEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildEnv")
            .field("name", &self.name)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Event, RecordingSink};

    #[test]
    fn a_shared_sink_is_not_wrapped_again() {
        let recording = RecordingSink::new();
        let shared: Arc<dyn TelemetrySink> = Arc::new(recording.clone());
        let env = BuildEnv::default().with_sink(shared.clone());
        assert!(Arc::ptr_eq(env.sink().unwrap(), &shared));
        env.telemetry(LayerKind::Retry, Some("a"))
            .report(Event::Admitted);
        assert_eq!(recording.events_for("a").len(), 1);
    }
}
