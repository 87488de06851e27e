//! The names most services need, in one import:
//! `use buttress::prelude::*;`.
//!
//! Every layer's type, config, builder and handle; the contract traits
//! that give every builder `.name(..)`, `.sink(..)` and `.env(..)`
//! ([`LayerBuilder`]), build any config ([`LayerConfig`]) and read any
//! handle ([`LayerHandle`]); the [`ButtressExt`] methods for
//! `tower::ServiceBuilder`; the ready-made stacks; and the shared
//! vocabulary (rejections, context, trust).
//!
//! ```
//! use buttress::prelude::*;
//! use std::time::Duration;
//!
//! let breaker = CircuitBreakerLayer::builder().name("payments").build().unwrap();
//! assert_eq!(breaker.handle().id().name(), "payments");
//! let timeout = TimeoutLayer::from_config(&TimeoutConfig {
//!     limit: Some(Duration::from_secs(1)),
//!     ..TimeoutConfig::default()
//! })
//! .unwrap();
//! assert_eq!(timeout.handle().limit(), Some(Duration::from_secs(1)));
//! ```

pub use crate::ButtressExt;
pub use crate::edge::EdgeLayer;
#[cfg(feature = "stack")]
pub use crate::stack::{ClientLayer, ClientStack, ServerLayer, ServerStack};
pub use buttress_core::layer::{
    BuildEnv, DefaultClassifier, LayerBuilder, LayerConfig, LayerHandle,
};
pub use buttress_core::timeout::{TimeoutConfig, TimeoutHandle, TimeoutLayer, TimeoutLayerBuilder};
pub use buttress_core::{BoxError, Criticality, Reason, Rejected, RequestContext, TrustPolicy};

#[cfg(all(feature = "serde", feature = "stack"))]
pub use crate::config::ServiceConfig;
#[cfg(feature = "balance")]
pub use buttress_balance::{BalanceConfig, BalanceHandle, BalanceLayer, BalanceLayerBuilder};
#[cfg(feature = "breaker")]
pub use buttress_breaker::{
    BreakerConfig, CircuitBreakerHandle, CircuitBreakerLayer, CircuitBreakerLayerBuilder,
    KeyedCircuitBreakerHandle, KeyedCircuitBreakerLayer,
};
#[cfg(feature = "chaos")]
pub use buttress_chaos::{ChaosConfig, ChaosHandle, ChaosLayer, ChaosLayerBuilder};
#[cfg(feature = "context")]
pub use buttress_context::{
    ClientContextConfig, ClientContextHandle, ClientContextLayer, ClientContextLayerBuilder,
    ServerContextConfig, ServerContextHandle, ServerContextLayer, ServerContextLayerBuilder,
};
#[cfg(feature = "fallback")]
pub use buttress_fallback::{FallbackConfig, FallbackHandle, FallbackLayer, FallbackLayerBuilder};
#[cfg(feature = "limit")]
pub use buttress_limit::{
    AdaptiveLimitConfig, AdaptiveLimitHandle, AdaptiveLimitLayer, AdaptiveLimitLayerBuilder,
    BulkheadConfig, BulkheadHandle, BulkheadLayer, BulkheadLayerBuilder, KeyedBulkheadHandle,
    LoadShedHandle, LoadShedLayer, LoadShedLayerBuilder, RateLimitConfig, RateLimitHandle,
    RateLimitLayer, RateLimitLayerBuilder, ShedConfig, ThrottleConfig, ThrottleHandle,
    ThrottleLayer, ThrottleLayerBuilder,
};
#[cfg(feature = "metrics")]
pub use buttress_metrics::{Health, RedConfig, RedHandle, RedLayer, RedLayerBuilder};
#[cfg(feature = "retry")]
pub use buttress_retry::{RetryConfig, RetryHandle, RetryLayer, RetryLayerBuilder};
