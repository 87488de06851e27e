//! The machine's state, printed with every run: on shared cores the
//! figures mean little without it.

/// The 1-, 5- and 15-minute load averages, as `uptime` shows them.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}
