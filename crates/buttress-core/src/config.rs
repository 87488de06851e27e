//! The error every Buttress builder returns for an invalid configuration.

use std::borrow::Cow;
use std::fmt;

/// A configuration value that cannot work, naming the field and the
/// problem, so a TOML file's mistake reads as `timeout.limit: must be
/// greater than zero`.
///
/// ```
/// use buttress_core::config::ConfigError;
///
/// let err = ConfigError::new("limit", "must be greater than zero");
/// assert_eq!(err.to_string(), "limit: must be greater than zero");
/// assert_eq!(err.in_section("timeout").to_string(), "timeout.limit: must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: Cow<'static, str>,
    problem: Cow<'static, str>,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, problem: impl Into<Cow<'static, str>>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error, its field prefixed with the section it sits in.
    pub fn in_section(self, section: &str) -> Self {
        ConfigError {
            field: format!("{section}.{}", self.field).into(),
            problem: self.problem,
        }
    }

    /// The field at fault (dotted path).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}
