//! The atomics, the one mutex and the one spin-wait of the atomic core
//! ([`machine`] and [`window`]): std's in every build, loom's under
//! `--cfg buttress_loom`, for the model checks in `tests/loom_*.rs` (see
//! RELIABILITY.md). Under that cfg the core works only inside
//! `loom::model`.
//!
//! [`machine`]: crate::machine
//! [`window`]: crate::window

#[cfg(buttress_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(buttress_loom)]
pub(crate) use loom::sync::atomic::*;
#[cfg(not(buttress_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(buttress_loom))]
pub(crate) use std::sync::atomic::*;

/// One round of a wait for other threads to finish a few atomic steps:
/// a spin hint at first, then a yield of the thread (a thread preempted
/// mid-step needs the core back). Under loom, a yield, which tells the
/// model checker that this thread waits on another.
#[cfg(not(buttress_loom))]
#[inline]
pub(crate) fn spin(round: u32) {
    if round < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// See the std version.
#[cfg(buttress_loom)]
pub(crate) fn spin(_round: u32) {
    loom::thread::yield_now();
}
