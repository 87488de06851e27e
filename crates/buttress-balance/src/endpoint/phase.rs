//! The per-endpoint state its telemetry reports, changed exactly once per
//! change (a swap), so concurrent calls that see the same change report
//! it once.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::AcqRel;

/// An endpoint's state as reported, in the breaker's words (its ejection
/// *is* a breaker's machine): `closed` in rotation, `open` ejected or
/// unhealthy, `half_open` readmitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed,
    Open,
    HalfOpen,
}

impl Phase {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "active",
            Phase::Open => "ejected",
            Phase::HalfOpen => "readmitting",
        }
    }

    const fn from_bits(bits: u8) -> Phase {
        match bits {
            1 => Phase::Open,
            2 => Phase::HalfOpen,
            _ => Phase::Closed,
        }
    }
}

#[derive(Debug)]
pub(crate) struct PhaseCell(AtomicU8);

impl PhaseCell {
    pub(crate) const fn new() -> Self {
        PhaseCell(AtomicU8::new(0))
    }

    /// Sets the phase; returns the one left, if it changed.
    pub(crate) fn set(&self, to: Phase) -> Option<Phase> {
        let from = Phase::from_bits(self.0.swap(to as u8, AcqRel));
        (from != to).then_some(from)
    }
}
