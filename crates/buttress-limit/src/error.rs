//! Invalid configuration.

use std::fmt;

/// A builder or config was given values that cannot work together.
///
/// ```
/// use buttress_limit::BulkheadLayer;
///
/// let err = BulkheadLayer::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_concurrent");
/// assert_eq!(err.to_string(), "invalid max_concurrent: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    problem: &'static str,
}

impl ConfigError {
    pub(crate) const fn new(field: &'static str, problem: &'static str) -> Self {
        ConfigError { field, problem }
    }

    /// The setting at fault.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}
