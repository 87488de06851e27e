//! The metrics table in the crate docs is [`names::METRICS`], row for row.

use crate::names::METRICS;

/// The backticked words of a table cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn the_docs_table_is_the_metrics_const() {
    let docs = include_str!("lib.rs");
    let rows: Vec<Vec<&str>> = docs
        .lines()
        .skip_while(|line| !line.starts_with("//! | name in code |"))
        .skip(2)
        .take_while(|line| line.starts_with("//! | `"))
        .map(|line| {
            line.trim_start_matches("//! |")
                .trim_end_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), METRICS.len(), "one row per metric");
    for (row, spec) in rows.iter().zip(METRICS) {
        assert_eq!(ticked(row[0]), [spec.name], "{row:?}");
        assert_eq!(ticked(row[1]), [spec.prometheus_name().as_str()], "{row:?}");
        assert_eq!(row[2], spec.instrument.as_str(), "{row:?}");
        assert_eq!(ticked(row[3]), [spec.unit], "{row:?}");
        assert_eq!(ticked(row[4]), spec.labels, "{row:?}");
    }
}
