//! The breaker's states and how they are packed into one atomic word.
//!
//! The state and a generation counter share one `u64`, so that a call can
//! remember *which* closed or half-open period admitted it: an outcome that
//! arrives after the breaker moved on (a call admitted before the trip that
//! finishes during half-open) no longer matches and is not counted.

use std::fmt;

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are driven by traffic; `ForcedOpen` and
/// `Disabled` are set by hand through a
/// [`CircuitBreakerHandle`](crate::CircuitBreakerHandle) and stay until
/// changed by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow and their outcomes fill the window.
    Closed,
    /// Calls are rejected until the wait duration passes.
    Open,
    /// A bounded number of probe calls test the dependency.
    HalfOpen,
    /// Every call is rejected until the breaker is closed by hand.
    ForcedOpen,
    /// Every call is admitted and nothing is recorded.
    Disabled,
}

impl State {
    /// Every state, in declaration order: a metrics sink can set each
    /// state's gauge to 0 and `closed` (where every breaker starts) to 1
    /// when a breaker registers.
    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    /// A stable `snake_case` label, as reported in
    /// [`Event::StateChanged`](buttress_core::telemetry::Event::StateChanged).
    ///
    /// ```
    /// assert_eq!(buttress_breaker::State::HalfOpen.as_str(), "half_open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    const fn bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }

    const fn from_bits(bits: u64) -> State {
        match bits & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

/// Packs a state and its generation into one word.
pub(crate) const fn pack(state: State, generation: u64) -> u64 {
    (generation << STATE_BITS) | state.bits()
}

/// Splits a word into its state and generation.
pub(crate) const fn unpack(word: u64) -> (State, u64) {
    (State::from_bits(word), word >> STATE_BITS)
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_every_state() {
        for state in State::ALL {
            for generation in [0, 1, 7, u64::MAX >> STATE_BITS] {
                assert_eq!(unpack(pack(state, generation)), (state, generation));
            }
        }
    }
}
