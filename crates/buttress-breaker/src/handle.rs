//! Reading and steering a breaker from outside the call path.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::clock;
use buttress_core::config::ConfigError;
use buttress_core::keyed::KeyedEntry;
use buttress_core::layer::{LayerHandle, Reconfigure, check_name, fixed};
use buttress_core::telemetry::LayerId;
use tokio::sync::watch;

use crate::BreakerConfig;
use crate::machine::state::{State, Transition};
use crate::shared::Breaker;

/// Reads a breaker's state and statistics, subscribes to its transitions
/// and forces its state: the breaker's [`LayerHandle`], from
/// [`CircuitBreakerLayer::handle`](crate::CircuitBreakerLayer::handle) (or,
/// for one key of a keyed layer, from
/// [`KeyedCircuitBreakerHandle::breaker`](crate::KeyedCircuitBreakerHandle::breaker)).
/// Cheap to clone; every clone steers the same breaker.
///
/// Manual states stay until changed by hand: [`force_open`] rejects
/// everything, [`disable`] admits everything and records nothing, and
/// [`close`] returns to normal operation with an empty window.
/// [`set_metrics_only`] switches shadow mode on or off in any state.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_breaker::{CircuitBreakerLayer, State};
/// use buttress_core::layer::LayerHandle;
///
/// let layer = CircuitBreakerLayer::builder().name("search").build().unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "search");
/// handle.force_open();
/// assert_eq!(handle.state(), State::ForcedOpen);
/// handle.close();
/// assert_eq!(handle.stats().calls, 0);
/// ```
///
/// [`force_open`]: CircuitBreakerHandle::force_open
/// [`disable`]: CircuitBreakerHandle::disable
/// [`close`]: CircuitBreakerHandle::close
/// [`set_metrics_only`]: CircuitBreakerHandle::set_metrics_only
#[derive(Clone)]
pub struct CircuitBreakerHandle {
    target: HandleTarget,
}

#[derive(Clone)]
enum HandleTarget {
    Single(Arc<Breaker>),
    /// Holding a per-key entry keeps the map from evicting it.
    Keyed(KeyedEntry<Breaker>),
}

/// A breaker's state and window statistics at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The current state.
    pub state: State,
    /// Calls in the window (while closed; after a trip, the window as it
    /// was when it tripped).
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Probe calls in flight (half-open only).
    pub probes_in_flight: u64,
    /// How long until half-open (open only).
    pub open_for: Option<Duration>,
    /// Calls rejected since the breaker was built.
    pub rejected: u64,
    /// Calls that metrics-only mode admitted but would have rejected.
    pub would_reject: u64,
    /// Whether the breaker is in metrics-only (shadow) mode.
    pub metrics_only: bool,
}

impl Stats {
    /// The failure rate of the window in percent (0 with no calls).
    pub fn failure_rate(&self) -> f64 {
        percent(self.failures, self.calls)
    }

    /// The slow-call rate of the window in percent (0 with no calls).
    pub fn slow_call_rate(&self) -> f64 {
        percent(self.slow_calls, self.calls)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl CircuitBreakerHandle {
    pub(crate) fn single(breaker: Arc<Breaker>) -> Self {
        CircuitBreakerHandle {
            target: HandleTarget::Single(breaker),
        }
    }

    pub(crate) fn keyed(entry: KeyedEntry<Breaker>) -> Self {
        CircuitBreakerHandle {
            target: HandleTarget::Keyed(entry),
        }
    }

    fn breaker(&self) -> &Breaker {
        match &self.target {
            HandleTarget::Single(breaker) => breaker,
            HandleTarget::Keyed(entry) => entry,
        }
    }

    fn now(&self) -> u64 {
        clock::ticks(clock::now())
    }

    /// The current state. An open breaker whose wait has passed reads
    /// `Open` until the next call moves it to half-open.
    pub fn state(&self) -> State {
        self.breaker().machine.state()
    }

    /// The state and window statistics.
    pub fn stats(&self) -> Stats {
        let snapshot = self.breaker().machine.snapshot(self.now());
        Stats {
            state: snapshot.state,
            calls: snapshot.totals.calls,
            failures: snapshot.totals.failures,
            slow_calls: snapshot.totals.slow,
            probes_in_flight: snapshot.probes_in_flight,
            open_for: snapshot.open_for.map(Duration::from_nanos),
            rejected: snapshot.rejected,
            would_reject: snapshot.would_reject,
            metrics_only: snapshot.metrics_only,
        }
    }

    /// Subscribes to transitions.
    pub fn subscribe(&self) -> Transitions {
        Transitions {
            receiver: self.breaker().subscribe(),
        }
    }

    fn force(&self, to: State) {
        let breaker = self.breaker();
        if let Some(transition) = breaker
            .machine
            .force(&breaker.policy.settings, to, self.now())
        {
            breaker.announce(transition);
        }
    }

    /// Rejects every call until [`close`](Self::close) or
    /// [`disable`](Self::disable).
    pub fn force_open(&self) {
        self.force(State::ForcedOpen);
    }

    /// Admits every call and records nothing, until
    /// [`close`](Self::close) or [`force_open`](Self::force_open).
    pub fn disable(&self) {
        self.force(State::Disabled);
    }

    /// Closes the breaker with an empty window, from any state.
    pub fn close(&self) {
        self.force(State::Closed);
    }

    /// Switches metrics-only (shadow) mode: the breaker keeps judging, but
    /// admits what it would reject and counts it in
    /// [`Stats::would_reject`].
    pub fn set_metrics_only(&self, on: bool) {
        self.breaker().machine.set_metrics_only(on);
    }
}

impl LayerHandle for CircuitBreakerHandle {
    fn id(&self) -> &LayerId {
        self.breaker().policy.telemetry.layer()
    }
}

impl Reconfigure for CircuitBreakerHandle {
    type Config = BreakerConfig;

    fn config(&self) -> BreakerConfig {
        let policy = &self.breaker().policy;
        policy
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New thresholds (`failure_rate`, `minimum_calls`, `slow_calls`), a
    /// new `wait` and `backoff`, `permitted_probes` and `metrics_only`
    /// apply from the next call on; the breaker keeps its state and its
    /// window's counts (an open breaker stays open, its current wait
    /// unchanged). The window's shape, `max_keys`, `seed` and the name
    /// are fixed once built. A per-key breaker's handle changes every
    /// key's settings: they share one policy.
    fn check(&self, config: &BreakerConfig) -> Result<(), ConfigError> {
        config.settings()?;
        let running = self.config();
        check_name(self.id(), config.name.as_deref())?;
        fixed("window", &running.window, &config.window)?;
        fixed("max_keys", &running.max_keys, &config.max_keys)?;
        fixed("seed", &running.seed, &config.seed)
    }

    fn reconfigure(&self, config: &BreakerConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        let new = config.settings()?;
        let breaker = self.breaker();
        let policy = &breaker.policy;
        let mut running = policy.config.lock().unwrap_or_else(|e| e.into_inner());
        policy.settings.update(&new);
        if running.metrics_only != config.metrics_only {
            breaker.machine.set_metrics_only(config.metrics_only);
        }
        *running = BreakerConfig {
            name: running.name.clone(),
            ..config.clone()
        };
        Ok(())
    }
}

impl fmt::Debug for CircuitBreakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerHandle")
            .field("breaker", self.breaker().policy.telemetry.layer())
            .field("state", &self.state())
            .finish()
    }
}

/// A subscription to a breaker's transitions.
///
/// It follows the latest transition: a subscriber that falls behind sees
/// the most recent one, not each one in between (the state is what
/// matters; [`CircuitBreakerHandle::stats`] has the rest).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_breaker::{CircuitBreakerLayer, State};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = CircuitBreakerLayer::builder().name("ledger").build().unwrap().handle();
/// let mut transitions = handle.subscribe();
/// handle.force_open();
/// let seen = transitions.changed().await.unwrap();
/// assert_eq!((seen.from, seen.to), (State::Closed, State::ForcedOpen));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Transitions {
    receiver: watch::Receiver<Option<Transition>>,
}

impl Transitions {
    /// Waits for a transition not seen yet and returns it; `None` once the
    /// breaker is gone.
    pub async fn changed(&mut self) -> Option<Transition> {
        loop {
            self.receiver.changed().await.ok()?;
            if let Some(transition) = *self.receiver.borrow_and_update() {
                return Some(transition);
            }
        }
    }

    /// The latest transition, if any, without waiting.
    pub fn latest(&self) -> Option<Transition> {
        *self.receiver.borrow()
    }
}
