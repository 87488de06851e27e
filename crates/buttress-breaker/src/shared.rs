//! The state a layer creates once and every service and future shares.
//!
//! A layer's state lives behind `Arc`s made when the layer is built, so
//! that `layer()` and `clone()` share it and never create it (see
//! [`buttress_core::layer`]): one breaker sees all the traffic however a
//! framework applies the layer.
//!
//! [`Policy`] is per layer: settings, telemetry, the seeds of its
//! breakers' jitter. [`Breaker`] is one breaker: the atomic core plus the
//! channel that tells subscribers about transitions. A single breaker is
//! reached through [`Lane`]s: several `Arc`s to the same breaker, one per
//! group of threads, so that the reference count a response future bumps
//! lives on a cache line only that group writes — one shared `Arc` would
//! be a contended counter on every call.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_core::clock;
use buttress_core::keyed::{KeyedState, Retention};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::{Event, Replay, Telemetry};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::BreakerConfig;
use crate::machine::settings::Settings;
use crate::machine::state::Transition;
use crate::machine::{Clock, Machine};

/// Per-layer policy.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) settings: Settings,
    /// The config the settings came from, as last applied (for handles
    /// that show it, and to tell what a new one changes).
    pub(crate) config: Mutex<BreakerConfig>,
    pub(crate) telemetry: Telemetry,
    /// Draws each breaker's jitter seed, so that per-key breakers tripped
    /// together are not jittered alike, and a seeded layer jitters the
    /// same way every run.
    seeds: SharedRng,
    pub(crate) lanes: usize,
}

impl Policy {
    pub(crate) fn new(
        config: BreakerConfig,
        settings: Settings,
        seed: Option<u64>,
        telemetry: Telemetry,
    ) -> Self {
        Policy {
            settings,
            config: Mutex::new(config),
            telemetry,
            seeds: SharedRng::seeded_or_random(seed),
            lanes: lane_count(),
        }
    }

    /// Whether admission must read the clock for every call (to time slow
    /// calls).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.settings.slow().is_some()
    }
}

/// One breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    pub(crate) policy: Arc<Policy>,
    pub(crate) machine: Machine,
    transitions: watch::Sender<Option<Transition>>,
}

impl Breaker {
    pub(crate) fn new(policy: Arc<Policy>, metrics_only: bool) -> Self {
        let seed = policy.seeds.next_u64();
        let machine = Machine::new(&policy.settings, policy.lanes, seed, metrics_only);
        Self::with_machine(policy, machine)
    }

    /// One key's breaker of a keyed layer: its window sized for being one
    /// of `max_keys` (see [`Machine::per_key`]).
    pub(crate) fn per_key(policy: Arc<Policy>, metrics_only: bool) -> Self {
        let seed = policy.seeds.next_u64();
        let machine = Machine::per_key(&policy.settings, seed, metrics_only);
        Self::with_machine(policy, machine)
    }

    /// A keyed layer's overflow entry: admits every call, records nothing
    /// (see [`crate::keyed`] for why).
    pub(crate) fn pass_through(policy: Arc<Policy>) -> Self {
        let machine = Machine::pass_through(policy.seeds.next_u64());
        Self::with_machine(policy, machine)
    }

    fn with_machine(policy: Arc<Policy>, machine: Machine) -> Self {
        Breaker {
            machine,
            transitions: watch::Sender::new(None),
            policy,
        }
    }

    /// Reports a transition to telemetry and to subscribers.
    ///
    /// Transitions are made under the machine's writer lock but announced
    /// after it, so two made at once on different threads can reach the
    /// sink in the wrong order. If the breaker has moved on by the time
    /// this one is reported, the sink is told the state it is in now.
    pub(crate) fn announce(&self, transition: Transition) {
        let telemetry = &self.policy.telemetry;
        telemetry.report(Event::StateChanged {
            from: transition.from.as_str(),
            to: transition.to.as_str(),
        });
        self.transitions.send_replace(Some(transition));
        if self.machine.state() != transition.to {
            self.report_state(&mut |event| telemetry.report(event));
        }
    }

    /// Reports the current state, and again if it changed meanwhile (a few
    /// times at most: whoever changes it announces that change anyway).
    fn report_state(&self, report: &mut dyn FnMut(Event)) {
        let mut state = self.machine.state();
        for _ in 0..4 {
            report(Event::State(state.as_str()));
            let now = self.machine.state();
            if now == state {
                break;
            }
            state = now;
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<Transition>> {
        self.transitions.subscribe()
    }

    /// A clock reading the tokio clock at most once.
    #[inline]
    pub(crate) fn clock(&self) -> OnceClock {
        OnceClock {
            now: Cell::new(None),
        }
    }

    /// The retry hint in nanoseconds as a `Duration`.
    pub(crate) fn retry_after(nanos: u64) -> Duration {
        Duration::from_nanos(nanos)
    }
}

/// A single breaker's replay for a sink that binds late: its state. (A
/// keyed layer's breakers share one registration and each have a state of
/// their own; it gives none.)
impl Replay for Breaker {
    fn replay(&self, report: &mut dyn FnMut(Event)) {
        self.report_state(report);
    }
}

/// See [`Machine::retention`]: closed and quiet is neutral; closed with
/// failures, or open with no call for a whole `wait`, is idle; open with
/// calls still arriving, or set by hand, is live.
impl KeyedState for Breaker {
    fn is_neutral(&self, now: Instant) -> bool {
        self.retention(now) == Retention::Neutral
    }

    fn retention(&self, now: Instant) -> Retention {
        self.machine
            .retention(&self.policy.settings, clock::ticks(now))
    }
}

/// Reads the call chain's clock ([`clock::now`]) on first use, as
/// [`clock::ticks`], and returns that reading after.
#[derive(Debug)]
pub(crate) struct OnceClock {
    now: Cell<Option<u64>>,
}

impl Clock for OnceClock {
    #[inline]
    fn now(&self) -> u64 {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = clock::ticks(clock::now());
                self.now.set(Some(now));
                now
            }
        }
    }
}

/// One `Arc` to the single breaker, for one group of threads.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Lane {
    pub(crate) breaker: Arc<Breaker>,
}

/// The lanes of a single breaker.
pub(crate) type Lanes = Arc<[Arc<Lane>]>;

pub(crate) fn lanes_for(breaker: &Arc<Breaker>) -> Lanes {
    (0..breaker.policy.lanes)
        .map(|_| {
            Arc::new(Lane {
                breaker: breaker.clone(),
            })
        })
        .collect()
}

/// About two lanes per core, a power of two, at most 16.
fn lane_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 2).next_power_of_two().min(16)
}

static NEXT_LANE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's lane number (threads are numbered as they first call).
#[inline]
pub(crate) fn current_lane() -> usize {
    LANE.with(|lane| {
        let mut n = lane.get();
        if n == usize::MAX {
            n = NEXT_LANE.fetch_add(1, Ordering::Relaxed);
            lane.set(n);
        }
        n
    })
}
