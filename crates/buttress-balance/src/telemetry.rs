//! Per-endpoint telemetry with bounded labels.
//!
//! Each endpoint reports under `<balancer>/<endpoint>` — calls admitted
//! and completed, and its standing — but only the
//! first `max_endpoint_labels` endpoints in the table get a name of their
//! own: discovery can find any number of endpoints, and a metrics
//! backend must not grow a series per address it ever saw. A label is
//! given back when its endpoint leaves the table.
//!
//! The balancer and its endpoints report as [`LayerKind::Balance`]: an
//! endpoint's standing as the states `active`, `ejected` and
//! `readmitting`, the balancer's one refusal — no endpoint left — as
//! [`Reason::NoEndpoint`](buttress_core::Reason::NoEndpoint).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

use buttress_core::layer::BuildEnv;
use buttress_core::telemetry::{LayerKind, Telemetry};

/// The kind balancers report as.
pub(crate) const KIND: LayerKind = LayerKind::Balance;

/// Hands out per-endpoint labels, at most `max` at once.
#[derive(Debug)]
pub(crate) struct Labels {
    env: BuildEnv,
    name: Arc<str>,
    used: Arc<AtomicUsize>,
    max: usize,
}

impl Labels {
    pub(crate) fn new(env: BuildEnv, name: Arc<str>, max: usize) -> Self {
        Labels {
            env,
            name,
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A label for `endpoint`, if one is free. Registers with the sink:
    /// called when an endpoint joins the table, never per request.
    pub(crate) fn claim(&self, endpoint: &impl fmt::Display) -> Option<Label> {
        self.used
            .fetch_update(AcqRel, Relaxed, |n| (n < self.max).then_some(n + 1))
            .ok()?;
        let name = format!("{}/{endpoint}", self.name);
        let telemetry = match self.env.sink() {
            Some(sink) => Telemetry::with_sink(&**sink, KIND, name),
            None => Telemetry::register(KIND, name),
        };
        Some(Label {
            telemetry,
            used: self.used.clone(),
        })
    }
}

/// One endpoint's telemetry; gives its label back when dropped.
#[derive(Debug)]
pub(crate) struct Label {
    telemetry: Telemetry,
    used: Arc<AtomicUsize>,
}

impl Label {
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
}

impl Drop for Label {
    fn drop(&mut self) {
        self.used.fetch_sub(1, AcqRel);
    }
}
