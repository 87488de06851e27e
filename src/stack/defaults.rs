//! What each layer of the two stacks runs with when its toggle is left at
//! `Default` (`None`: off unless asked for): the one statement of the
//! stacks' defaults, which `build`, a balanced stack's per-endpoint guards
//! and a reload's plan all read. The tables in `ServerStack`'s and
//! `ClientStack`'s documentation say why each is what it is.

use buttress_core::timeout::TimeoutConfig;
use buttress_limit::BulkheadConfig;
use buttress_metrics::RedConfig;

/// RED metrics: on in both stacks (each stack sets its own side).
pub(super) fn metrics() -> Option<RedConfig> {
    Some(RedConfig::default())
}

/// The server stack's layers.
pub(super) mod server {
    use buttress_context::ServerContextConfig;
    use buttress_limit::{AdaptiveLimitConfig, RateLimitConfig, ShedConfig};

    use super::super::server::DEFAULT_SERVER_TIMEOUT;
    pub(in crate::stack) use super::metrics;
    use super::{BulkheadConfig, TimeoutConfig};

    pub(in crate::stack) fn context() -> Option<ServerContextConfig> {
        Some(ServerContextConfig::default())
    }
    pub(in crate::stack) fn rate_limit() -> Option<RateLimitConfig> {
        None
    }
    pub(in crate::stack) fn shed() -> Option<ShedConfig> {
        Some(ShedConfig::default())
    }
    pub(in crate::stack) fn adaptive_limit() -> Option<AdaptiveLimitConfig> {
        Some(AdaptiveLimitConfig::default())
    }
    pub(in crate::stack) fn bulkhead() -> Option<BulkheadConfig> {
        None
    }
    pub(in crate::stack) fn timeout() -> Option<TimeoutConfig> {
        Some(DEFAULT_SERVER_TIMEOUT.into())
    }
}

/// The client stack's layers.
pub(super) mod client {
    use buttress_breaker::BreakerConfig;
    use buttress_context::ClientContextConfig;
    use buttress_limit::ThrottleConfig;
    use buttress_retry::RetryConfig;

    use super::super::client::{DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CLIENT_CONCURRENCY};
    pub(in crate::stack) use super::metrics;
    use super::{BulkheadConfig, TimeoutConfig};

    pub(in crate::stack) fn context() -> Option<ClientContextConfig> {
        Some(ClientContextConfig::default())
    }
    pub(in crate::stack) fn retry() -> Option<RetryConfig> {
        Some(RetryConfig::default())
    }
    pub(in crate::stack) fn throttle() -> Option<ThrottleConfig> {
        None
    }
    pub(in crate::stack) fn breaker() -> Option<BreakerConfig> {
        Some(BreakerConfig::default())
    }
    pub(in crate::stack) fn bulkhead() -> Option<BulkheadConfig> {
        Some(BulkheadConfig {
            max_concurrent: DEFAULT_CLIENT_CONCURRENCY,
            ..BulkheadConfig::default()
        })
    }
    pub(in crate::stack) fn timeout() -> Option<TimeoutConfig> {
        Some(DEFAULT_ATTEMPT_TIMEOUT.into())
    }
    #[cfg(feature = "chaos")]
    pub(in crate::stack) fn chaos() -> Option<buttress_chaos::ChaosConfig> {
        None
    }
}
