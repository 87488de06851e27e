//! Settings from environment variables: `cargo bench` passes its own
//! arguments (`--bench`) to a `harness = false` binary, so flags would
//! have to be told apart from cargo's; a variable is simpler.

use std::str::FromStr;
use std::time::Duration;

/// The variable `name` parsed as a `T`, or `default` when it is unset.
/// Panics with the variable's name when it cannot be parsed: a typo must
/// not silently run the default.
pub(crate) fn number<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a valid number")),
        Err(_) => default,
    }
}

/// The variable `name` as seconds (fractions allowed), or `default`.
pub(crate) fn seconds(name: &str, default: Duration) -> Duration {
    let secs: f64 = number(name, default.as_secs_f64());
    assert!(secs.is_finite() && secs > 0.0, "{name} must be above zero");
    Duration::from_secs_f64(secs)
}
