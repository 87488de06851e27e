//! What every clone of one chaos layer shares, and how it decides.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use buttress_core::RequestContext;
use buttress_core::access::RequestAccess;
use buttress_core::context::{FaultAbort, FaultDirective};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::Telemetry;

use crate::directive::Directives;
use crate::latency::Latency;

/// A fault to inject on a share of calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rated<T> {
    /// The share of calls, 0 to 1.
    pub(crate) fraction: f64,
    pub(crate) what: T,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) calls: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) capped: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) peak_active: AtomicUsize,
}

pub(crate) struct Shared {
    pub(crate) enabled: AtomicBool,
    pub(crate) abort: Option<Rated<FaultAbort>>,
    pub(crate) delay: Option<Rated<Latency>>,
    pub(crate) directives: bool,
    pub(crate) max_delay: Duration,
    pub(crate) max_active: usize,
    pub(crate) active: AtomicUsize,
    /// One seeded stream per layer; each call seeds a local generator
    /// from its next value, so the same seed and the same order of calls
    /// give the same faults, and concurrent calls never share draws.
    pub(crate) draws: SharedRng,
    pub(crate) counters: Counters,
    pub(crate) telemetry: Telemetry,
}

/// A slot among the concurrently active faults, given back on drop.
pub(crate) struct ActiveFault {
    shared: Arc<Shared>,
}

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// The dependency's name: what directives name, what telemetry reports.
    pub(crate) fn name(&self) -> &str {
        self.telemetry.layer().name()
    }

    /// The generator for one call's draws.
    #[inline]
    fn call_rng(&self) -> fastrand::Rng {
        fastrand::Rng::with_seed(self.draws.next_u64())
    }

    /// The fault for this call, if any, with its active-fault slot.
    #[inline]
    pub(crate) fn decide<Req: RequestAccess>(
        self: &Arc<Self>,
        request: &Req,
    ) -> Option<(FaultDirective, ActiveFault)> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let fault = self.choose(request)?;
        if fault.is_none() {
            return None;
        }
        let slot = self.acquire()?;
        Some((fault, slot))
    }

    fn choose<Req: RequestAccess>(&self, request: &Req) -> Option<FaultDirective> {
        // A fault set on this very request by the code that built it.
        if let Some(fault) = request
            .extensions()
            .and_then(|ext| ext.get::<FaultDirective>())
        {
            return Some(self.capped_delay(*fault));
        }
        if self.directives {
            let directive_in = RequestContext::with_request(request, |ctx| {
                ctx.and_then(RequestContext::raw_fault)
                    .and_then(|raw| self.directive_in(raw.as_bytes()))
            });
            if let Some(decided) = directive_in {
                return decided;
            }
        }
        self.drawn_from_rates()
    }

    /// The directive of a trusted header naming this dependency. `Some(None)`
    /// when one names it but its percentage drew no fault: the header
    /// decides, the configured rates do not add to it.
    fn directive_in(&self, text: &[u8]) -> Option<Option<FaultDirective>> {
        for directive in Directives::new(text) {
            let directive = match directive {
                Ok(directive) => directive,
                Err(error) => {
                    self.ignore(error.as_str());
                    continue;
                }
            };
            if directive.dependency() != self.name() {
                continue;
            }
            if directive
                .fault()
                .delay()
                .is_some_and(|delay| delay > self.max_delay)
            {
                self.ignore("delay_over_max_delay");
                continue;
            }
            let percent = directive.percent();
            let hit = percent == 100 || (percent > 0 && self.call_rng().u8(0..100) < percent);
            return Some(hit.then(|| directive.fault()));
        }
        None
    }

    fn ignore(&self, why: &'static str) {
        self.counters.ignored.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            dependency = self.name(),
            error = why,
            "ignored a fault directive"
        );
    }

    fn drawn_from_rates(&self) -> Option<FaultDirective> {
        if self.abort.is_none() && self.delay.is_none() {
            return None;
        }
        let mut rng = self.call_rng();
        let mut fault = FaultDirective::none();
        if let Some(delay) = &self.delay
            && rng.f64() < delay.fraction
        {
            fault = fault.with_delay(delay.what.sample(rng.f64(), self.max_delay));
        }
        if let Some(abort) = &self.abort
            && rng.f64() < abort.fraction
        {
            fault = fault.with_abort(abort.what);
        }
        Some(fault)
    }

    fn capped_delay(&self, fault: FaultDirective) -> FaultDirective {
        match fault.delay() {
            Some(delay) if delay > self.max_delay => {
                let capped = FaultDirective::none().with_delay(self.max_delay);
                match fault.abort() {
                    Some(abort) => capped.with_abort(abort),
                    None => capped,
                }
            }
            _ => fault,
        }
    }

    fn acquire(self: &Arc<Self>) -> Option<ActiveFault> {
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |active| {
                (active < self.max_active).then_some(active + 1)
            });
        match taken {
            Ok(before) => {
                self.counters
                    .peak_active
                    .fetch_max(before + 1, Ordering::Relaxed);
                Some(ActiveFault {
                    shared: self.clone(),
                })
            }
            Err(_) => {
                self.counters.capped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}
