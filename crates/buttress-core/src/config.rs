//! The error every Buttress builder returns for an invalid configuration.

use std::borrow::Cow;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The longest any Buttress duration setting may be: a day. Longer
/// waits, windows and limits are mistakes (a unit typed wrong), and
/// bounding them keeps instant arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Checks that a duration setting lies in `range`, naming `field` if not.
///
/// ```
/// use buttress_core::config::{check_duration, MAX_DURATION};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// assert!(check_duration("wait", ms(500), ms(1)..=MAX_DURATION).is_ok());
/// let err = check_duration("wait", Duration::ZERO, ms(1)..=MAX_DURATION).unwrap_err();
/// assert_eq!(err.to_string(), "wait: must be at least 1ms");
/// let err = check_duration("wait", MAX_DURATION * 2, ms(1)..=MAX_DURATION).unwrap_err();
/// assert_eq!(err.to_string(), "wait: must be at most 86400s");
/// ```
pub fn check_duration(
    field: &'static str,
    value: Duration,
    range: RangeInclusive<Duration>,
) -> Result<(), ConfigError> {
    if value < *range.start() {
        if range.start().is_zero() || *range.start() == Duration::from_nanos(1) {
            return Err(ConfigError::new(field, "must be greater than zero"));
        }
        return Err(ConfigError::new(
            field,
            format!("must be at least {:?}", range.start()),
        ));
    }
    if value > *range.end() {
        return Err(ConfigError::new(
            field,
            format!("must be at most {:?}", range.end()),
        ));
    }
    Ok(())
}

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
