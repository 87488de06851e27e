//! The atomics and the one mutex of the atomic core ([`machine`] and
//! [`window`]): std's in every build, loom's under `--cfg buttress_loom`,
//! for the model checks in `tests/loom_*.rs` (see RELIABILITY.md). Under
//! that cfg the core works only inside `loom::model`.
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
