//! Counting config reloads: what the facade's reloader reports.

use crate::names::{CONFIG_RELOAD_FAILURES, CONFIG_RELOADS};

/// Counts one config reload in the installed `metrics` recorder: applied
/// (`buttress.config.reloads`) or refused
/// (`buttress.config.reload.failures`).
///
/// ```
/// buttress_metrics::record_reload(false); // with no recorder installed: nothing
/// ```
pub fn record_reload(applied: bool) {
    let name = if applied {
        CONFIG_RELOADS
    } else {
        CONFIG_RELOAD_FAILURES
    };
    metrics::counter!(name).increment(1);
}
