//! A layer's running settings as JSON, for [`Telemetry::describe_with`](super::Telemetry::describe_with).

/// `settings` as a JSON object (durations as the config writes them,
/// `"250ms"`); `None` if it cannot be written as JSON (a map with
/// non-string keys, say).
///
/// ```
/// use buttress_core::telemetry::settings_json;
/// use buttress_core::timeout::TimeoutConfig;
///
/// let config = TimeoutConfig::from(std::time::Duration::from_millis(250));
/// assert!(settings_json(&config).unwrap().contains("\"250ms\""));
/// ```
pub fn settings_json<T: serde::Serialize + ?Sized>(settings: &T) -> Option<String> {
    serde_json::to_string(settings).ok()
}
