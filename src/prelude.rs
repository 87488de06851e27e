//! The names most services need, in one import:
//! `use buttress::prelude::*;`.

pub use crate::edge::EdgeLayer;
pub use crate::stack::ServiceBuilderExt;
#[cfg(feature = "stack")]
pub use crate::stack::{ClientLayer, ClientStack, ServerLayer, ServerStack};
pub use buttress_core::timeout::TimeoutLayer;
pub use buttress_core::{BoxError, Criticality, Reason, Rejected, RequestContext, TrustPolicy};

#[cfg(all(feature = "serde", feature = "stack"))]
pub use crate::config::ServiceConfig;
#[cfg(feature = "breaker")]
pub use buttress_breaker::{BreakerConfig, CircuitBreakerLayer};
#[cfg(feature = "context")]
pub use buttress_context::{ClientContextLayer, ServerContextLayer};
#[cfg(feature = "limit")]
pub use buttress_limit::{BulkheadConfig, BulkheadLayer};
#[cfg(feature = "metrics")]
pub use buttress_metrics::{Health, RedLayer};
#[cfg(feature = "retry")]
pub use buttress_retry::{RetryConfig, RetryLayer};
