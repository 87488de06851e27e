//! The atomics of the permit counter ([`counter`]): std's in every build,
//! loom's under `--cfg buttress_loom`, for the model checks in
//! `tests/loom_*.rs` (see RELIABILITY.md). Under that cfg the counter
//! works only inside `loom::model`.
//!
//! [`counter`]: super::counter

#[cfg(buttress_loom)]
pub(crate) use loom::sync::atomic::*;
#[cfg(not(buttress_loom))]
pub(crate) use std::sync::atomic::*;
