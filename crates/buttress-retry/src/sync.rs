//! The atomics of the budget's core ([`budget::core`]): std's in every
//! build, loom's under `--cfg buttress_loom`, for the model checks in
//! `tests/loom_*.rs` (see RELIABILITY.md). Under that cfg the core works
//! only inside `loom::model`.
//!
//! [`budget::core`]: crate::budget::core

#[cfg(buttress_loom)]
pub(crate) use loom::sync::atomic::*;
#[cfg(not(buttress_loom))]
pub(crate) use std::sync::atomic::*;
