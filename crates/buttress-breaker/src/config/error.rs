//! The error of an invalid config.

use std::error::Error;
use std::fmt;

/// A breaker config that cannot be built: which field, and why.
///
/// ```
/// let err = buttress_breaker::CircuitBreakerLayer::builder("db")
///     .permitted_probes(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.to_string(), "invalid breaker config: permitted_probes must be between 1 and 1,000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    problem: &'static str,
}

impl ConfigError {
    pub(crate) const fn new(field: &'static str, problem: &'static str) -> Self {
        ConfigError { field, problem }
    }

    /// The offending field, as named in the serde config
    /// (`"backoff.jitter"`).
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub const fn problem(&self) -> &'static str {
        self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid breaker config: {} {}", self.field, self.problem)
    }
}

impl Error for ConfigError {}
