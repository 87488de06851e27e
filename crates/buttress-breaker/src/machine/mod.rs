//! The atomic core of the breaker: state, window and probes.
//!
//! Everything here is plain data and `std` atomics, and time is a number
//! of nanoseconds passed in by the caller ([`Clock`]) — no tokio, no
//! allocation after construction — so the core can be exercised by a
//! model checker (loom) apart from the tower plumbing around it.
//!
//! The call path is lock-free: admission is a load of the state word (and,
//! only when half-open, a compare-and-swap on the probe word); recording
//! an outcome updates the window's atomics. A *change* of state is rare
//! and takes a short mutex that serialises writers of the state word, so
//! that whoever changes it also writes what goes with it (the end of the
//! open period, a fresh probe word, a cleared window) before publishing
//! the new state; readers never take it.
//!
//! # Stragglers
//!
//! Every call carries the generation that admitted it ([`Ticket`]), and an
//! outcome counts in the window only if the breaker is still in the closed
//! period of that generation. Checking the generation and recording into
//! the window are two steps, so a call could pass the check, stall, and
//! record only after the breaker had tripped, half-opened and closed again
//! — into the new period's freshly cleared window (a finding of the loom
//! models; with `minimum_calls = 1` the stale failure re-opened the breaker
//! on its next call, a success). So a call announces itself in its lane's
//! *recording* count before the check and leaves it after its record, and
//! the writer that clears the window for a new closed period first waits,
//! lane by lane, until no call is between those two points. The wait is
//! a few atomic steps of the calls under way (none takes a lock); a call
//! arriving meanwhile sees that the state moved on and records nothing.

pub(crate) mod probes;
pub(crate) mod settings;
pub(crate) mod state;

use std::sync::PoisonError;

use buttress_core::keyed::Retention;
use buttress_core::rng::SharedRng;

use crate::sync::{self, AtomicBool, AtomicU64, Mutex, Ordering};

use self::settings::{Settings, WindowShape};
use self::state::{State, Transition, pack, unpack};
use crate::window::count::CountWindow;
use crate::window::time::TimeWindow;
use crate::window::{Totals, Window};

/// A source of "now", in nanoseconds since some fixed start.
pub(crate) trait Clock {
    /// The current time.
    fn now(&self) -> u64;
}

/// What a call is, to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Admitted while closed: its outcome fills the window.
    Window,
    /// A half-open probe.
    Probe,
    /// Admitted without counting (disabled, or a would-be rejection in
    /// metrics-only mode).
    Untracked,
}

/// What a call carries from admission to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) generation: u64,
    pub(crate) role: Role,
}

/// The admission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted(Ticket),
    /// Rejected; retry after this many nanoseconds, if known.
    Rejected(Option<u64>),
}

/// How a completed call is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success {
        slow: bool,
    },
    Failure {
        slow: bool,
    },
    /// Ignored or cancelled: counts neither way, gives back a probe slot.
    Void,
}

/// What changes under the writer mutex, besides the atomics.
#[derive(Debug)]
struct Writer {
    /// Consecutive re-opens from half-open, for the growing wait.
    reopens: u32,
    /// The open wait's jitter.
    rng: SharedRng,
}

/// A snapshot for the handle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    pub(crate) totals: Totals,
    pub(crate) probes_in_flight: u64,
    pub(crate) open_for: Option<u64>,
    pub(crate) rejected: u64,
    pub(crate) would_reject: u64,
    pub(crate) metrics_only: bool,
}

#[derive(Debug)]
pub(crate) struct Machine {
    /// State and generation, see [`state::pack`].
    word: AtomicU64,
    /// When the open period ends, in clock nanoseconds.
    open_until: AtomicU64,
    /// When a call last reached the breaker while it was not closed (or
    /// when it left closed), in clock nanoseconds, to within
    /// [`CALL_GRAIN`]: how a keyed map tells an open breaker calls keep
    /// reaching from one nobody calls any more.
    last_call: AtomicU64,
    /// Half-open bookkeeping, see [`probes`].
    probes: AtomicU64,
    metrics_only: AtomicBool,
    rejected: AtomicU64,
    would_reject: AtomicU64,
    window: Window,
    /// Per lane, the calls between their generation check and the end of
    /// their record (see [Stragglers](self#stragglers)); a power of two.
    recording: Box<[Recording]>,
    writer: Mutex<Writer>,
}

/// One lane's count of calls recording into the window, on a cache line
/// of its own: written twice by every call of its lane.
#[derive(Debug)]
#[repr(align(64))]
struct Recording(AtomicU64);

/// The most lanes of recording counts.
const MAX_RECORDING_LANES: usize = 16;

/// [`Machine::last_call`] is written only when it moves by more than this
/// (1 ms): an open breaker rejecting a flood from every core must not
/// bounce one cache line per call to say so.
const CALL_GRAIN: u64 = 1_000_000;

impl Machine {
    /// A closed breaker with an empty window.
    pub(crate) fn new(settings: &Settings, lanes: usize, seed: u64, metrics_only: bool) -> Self {
        let window = match settings.window {
            WindowShape::Count { size } => Window::Count(CountWindow::new(size)),
            WindowShape::Time { span, buckets } => {
                Window::Time(TimeWindow::new(span, buckets, lanes))
            }
        };
        // As many recording lanes as the window has (a time window keeps
        // only as many as fit its memory bound); a count window has none
        // of its own, so as many as the breaker's.
        let recording = window.lanes().unwrap_or(lanes);
        Self::with_window(window, recording, State::Closed, seed, metrics_only)
    }

    /// A closed breaker with an empty window, for one key of a keyed
    /// breaker: its window unstriped and, when time-based, packed past
    /// 512 buckets (see [`TimeWindow::per_key`]), so that a key takes a
    /// bounded, small amount of memory.
    pub(crate) fn per_key(settings: &Settings, seed: u64, metrics_only: bool) -> Self {
        let window = match settings.window {
            WindowShape::Count { size } => Window::Count(CountWindow::new(size)),
            WindowShape::Time { span, buckets } => Window::Time(TimeWindow::per_key(span, buckets)),
        };
        Self::with_window(window, 1, State::Closed, seed, metrics_only)
    }

    /// A disabled breaker that admits every call and records nothing, with
    /// the smallest window: a keyed breaker's overflow entry.
    pub(crate) fn pass_through(seed: u64) -> Self {
        Self::with_window(
            Window::Count(CountWindow::new(1)),
            1,
            State::Disabled,
            seed,
            false,
        )
    }

    fn with_window(
        window: Window,
        recording: usize,
        state: State,
        seed: u64,
        metrics_only: bool,
    ) -> Self {
        let recording = recording.clamp(1, MAX_RECORDING_LANES).next_power_of_two();
        Machine {
            word: AtomicU64::new(pack(state, 0)),
            open_until: AtomicU64::new(0),
            last_call: AtomicU64::new(0),
            probes: AtomicU64::new(probes::fresh(u64::MAX)),
            metrics_only: AtomicBool::new(metrics_only),
            rejected: AtomicU64::new(0),
            would_reject: AtomicU64::new(0),
            window,
            recording: (0..recording)
                .map(|_| Recording(AtomicU64::new(0)))
                .collect(),
            writer: Mutex::new(Writer {
                reopens: 0,
                rng: SharedRng::new(seed),
            }),
        }
    }

    /// The current state.
    #[inline]
    pub(crate) fn state(&self) -> State {
        unpack(self.word.load(Ordering::Acquire)).0
    }

    /// Decides whether to admit a call. May move an open breaker whose
    /// wait has passed to half-open, which it returns.
    #[inline]
    pub(crate) fn admit(
        &self,
        settings: &Settings,
        clock: &impl Clock,
    ) -> (Admission, Option<Transition>) {
        let mut transition = None;
        loop {
            let word = self.word.load(Ordering::Acquire);
            let (state, generation) = unpack(word);
            let retry_after = match state {
                State::Closed => {
                    let ticket = Ticket {
                        generation,
                        role: Role::Window,
                    };
                    return (Admission::Admitted(ticket), transition);
                }
                State::Disabled => {
                    let ticket = Ticket {
                        generation,
                        role: Role::Untracked,
                    };
                    return (Admission::Admitted(ticket), transition);
                }
                State::ForcedOpen => None,
                State::Open => {
                    let now = clock.now();
                    self.saw_call(now);
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        Some(until - now)
                    } else {
                        if let Some(moved) = self.move_from(settings, word, State::HalfOpen, now) {
                            transition = Some(moved);
                        }
                        continue;
                    }
                }
                State::HalfOpen => {
                    self.saw_call(clock.now());
                    let tag = probes::tag(generation);
                    match probes::try_admit(&self.probes, tag, settings.permitted_probes()) {
                        Ok(()) => {
                            let ticket = Ticket {
                                generation,
                                role: Role::Probe,
                            };
                            return (Admission::Admitted(ticket), transition);
                        }
                        Err(probes::Refusal::Stale) => continue,
                        Err(probes::Refusal::Full) => Some(settings.half_open_hint()),
                    }
                }
            };
            return (self.refuse(generation, retry_after), transition);
        }
    }

    /// Notes that a call reached the breaker while it was not closed.
    #[inline]
    fn saw_call(&self, now: u64) {
        // Coarse, and a load first: see `CALL_GRAIN`.
        let last = self.last_call.load(Ordering::Relaxed);
        if now > last.saturating_add(CALL_GRAIN) {
            self.last_call.store(now, Ordering::Relaxed);
        }
    }

    fn refuse(&self, generation: u64, retry_after: Option<u64>) -> Admission {
        if self.metrics_only.load(Ordering::Relaxed) {
            self.would_reject.fetch_add(1, Ordering::Relaxed);
            Admission::Admitted(Ticket {
                generation,
                role: Role::Untracked,
            })
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            Admission::Rejected(retry_after)
        }
    }

    /// Records the outcome of an admitted call; returns the transition it
    /// caused, if any.
    #[inline]
    pub(crate) fn complete(
        &self,
        settings: &Settings,
        ticket: Ticket,
        lane: usize,
        verdict: Verdict,
        clock: &impl Clock,
    ) -> Option<Transition> {
        let (failed, slow) = match verdict {
            Verdict::Success { slow } => (false, slow),
            Verdict::Failure { slow } => (true, slow),
            Verdict::Void => {
                if ticket.role == Role::Probe {
                    probes::release(&self.probes, probes::tag(ticket.generation));
                }
                return None;
            }
        };
        match ticket.role {
            Role::Untracked => None,
            Role::Window => {
                let word = pack(State::Closed, ticket.generation);
                let recording = &self.recording[lane & (self.recording.len() - 1)].0;
                // Announced before the check, left after the record: a
                // writer clearing the window for a later closed period
                // waits for this call (see `await_recorders`).
                recording.fetch_add(1, Ordering::AcqRel);
                // A call admitted by an earlier closed period describes a
                // dependency the breaker has judged since: not counted.
                let trips = self.word.load(Ordering::Acquire) == word
                    && self
                        .window
                        .record(lane, || clock.now(), failed, slow)
                        .is_some_and(|totals| settings.trips(totals));
                recording.fetch_sub(1, Ordering::Release);
                if trips {
                    self.move_from(settings, word, State::Open, clock.now())
                } else {
                    None
                }
            }
            Role::Probe => {
                let decision = probes::complete(
                    &self.probes,
                    probes::tag(ticket.generation),
                    failed,
                    slow,
                    settings.permitted_probes(),
                    |f, s, of| settings.crossed(f, s, of),
                );
                let to = match decision {
                    probes::Decision::Pending | probes::Decision::Stale => return None,
                    probes::Decision::Close => State::Closed,
                    probes::Decision::Reopen => State::Open,
                };
                let word = pack(State::HalfOpen, ticket.generation);
                self.move_from(settings, word, to, clock.now())
            }
        }
    }

    /// Moves to `to` if the state word still is `expected`.
    fn move_from(
        &self,
        settings: &Settings,
        expected: u64,
        to: State,
        now: u64,
    ) -> Option<Transition> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let word = self.word.load(Ordering::Acquire);
        if word != expected {
            return None;
        }
        Some(self.enter(&mut writer, settings, word, to, now))
    }

    /// Moves to `to` by hand, whatever the current state; `None` if
    /// already there.
    pub(crate) fn force(&self, settings: &Settings, to: State, now: u64) -> Option<Transition> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let word = self.word.load(Ordering::Acquire);
        if unpack(word).0 == to {
            return None;
        }
        Some(self.enter(&mut writer, settings, word, to, now))
    }

    fn enter(
        &self,
        writer: &mut Writer,
        settings: &Settings,
        word: u64,
        to: State,
        now: u64,
    ) -> Transition {
        let (from, generation) = unpack(word);
        let next = generation.wrapping_add(1);
        if matches!(to, State::Open | State::HalfOpen) {
            // The call that tripped it (or came to probe) reached it.
            self.last_call.store(now, Ordering::Relaxed);
        }
        match to {
            State::Open => {
                writer.reopens = if from == State::HalfOpen {
                    writer.reopens.saturating_add(1)
                } else {
                    0
                };
                let wait = settings.open_wait(writer.reopens, &writer.rng);
                self.open_until
                    .store(now.saturating_add(wait), Ordering::Relaxed);
            }
            State::HalfOpen => {
                self.probes
                    .store(probes::fresh(probes::tag(next)), Ordering::Relaxed);
            }
            State::Closed => {
                writer.reopens = 0;
                // Calls of an earlier closed period still recording would
                // land in the cleared window: they finish first.
                self.await_recorders();
                self.window.reset();
            }
            State::ForcedOpen | State::Disabled => {}
        }
        // Published last: a reader that sees the new state sees what was
        // written for it above.
        self.word.store(pack(to, next), Ordering::Release);
        Transition { from, to }
    }

    /// Waits until no call of an earlier closed period is between its
    /// generation check and the end of its record. Called under the writer
    /// mutex, after the state word has left that period (at the trip,
    /// published before this writer took the mutex), before the window is
    /// cleared.
    ///
    /// Each lane is read with a read-modify-write, not a load: the counts
    /// are only ever changed by read-modify-writes, so this one is ordered
    /// with a caller's increment either way. If the increment comes after
    /// it, the caller acquires everything this writer saw, the state word
    /// that left the caller's period included, and records nothing. If it
    /// comes before, this writer sees the count up until the caller's
    /// release, and acquires its record, which the reset then overwrites.
    /// (A load here and a load of the state word there would make a
    /// store-buffering pattern that only `SeqCst` on both sides orders.)
    fn await_recorders(&self) {
        for recording in self.recording.iter() {
            let mut round = 0;
            while recording.0.fetch_add(0, Ordering::AcqRel) != 0 {
                sync::spin(round);
                round = round.saturating_add(1);
            }
        }
    }

    /// Switches metrics-only (shadow) mode.
    pub(crate) fn set_metrics_only(&self, on: bool) {
        self.metrics_only.store(on, Ordering::Relaxed);
    }

    /// What forgetting this breaker at `now` would cost, for a keyed map
    /// making room (see [`crate::keyed`] for why):
    ///
    /// - closed with no failure or slow call in its window: nothing
    ///   ([`Retention::Neutral`]);
    /// - closed with some: a little evidence, below the threshold
    ///   ([`Retention::Idle`]);
    /// - open or half-open, while calls keep reaching it — one within the
    ///   last `wait` — the protection of those calls ([`Retention::Live`]);
    ///   once none has for a whole `wait`, it protects no one, and its
    ///   next call would find it ready to probe anyway
    ///   ([`Retention::Idle`]);
    /// - forced open or disabled by hand: an operator's decision
    ///   ([`Retention::Live`]).
    ///
    /// A few atomic loads, whatever the window.
    pub(crate) fn retention(&self, settings: &Settings, now: u64) -> Retention {
        match self.state() {
            State::Closed if self.window.is_quiet(now) => Retention::Neutral,
            State::Closed => Retention::Idle,
            State::Open | State::HalfOpen => {
                let last_call = self.last_call.load(Ordering::Relaxed);
                if now.saturating_sub(last_call) >= settings.idle_after() {
                    Retention::Idle
                } else {
                    Retention::Live
                }
            }
            State::ForcedOpen | State::Disabled => Retention::Live,
        }
    }

    /// A snapshot for the handle.
    pub(crate) fn snapshot(&self, now: u64) -> Snapshot {
        let state = self.state();
        let open_for = match state {
            State::Open => Some(self.open_until.load(Ordering::Acquire).saturating_sub(now)),
            _ => None,
        };
        let probes_in_flight = match state {
            State::HalfOpen => probes::in_flight(self.probes.load(Ordering::Acquire)),
            _ => 0,
        };
        Snapshot {
            state,
            totals: self.window.totals(now),
            probes_in_flight,
            open_for,
            rejected: self.rejected.load(Ordering::Relaxed),
            would_reject: self.would_reject.load(Ordering::Relaxed),
            metrics_only: self.metrics_only.load(Ordering::Relaxed),
        }
    }
}
