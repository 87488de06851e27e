//! Correlation IDs: which inbound IDs are accepted, and how new ones are
//! made.
//!
//! An ID ends up in logs, in other services' headers and in tickets, so an
//! inbound one is accepted only when three things hold: the layer is in
//! [`IdMode::Accept`], the caller is trusted by the layer's
//! [`TrustPolicy`](buttress_core::TrustPolicy), and the value passes
//! [`IdRules`] (1 to 128 bytes of `[A-Za-z0-9._:-]` by default). Anything
//! else gets a fresh ID from a [`MakeCorrelationId`] — a `<script>` tag or
//! a 300-byte blob is never echoed, logged or forwarded.

mod make;
mod rules;

pub use self::make::{IdFormat, MakeCorrelationId, UuidV4, UuidV7};
pub use self::rules::{IdMode, IdRules};
