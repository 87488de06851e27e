//! The HTML report — a verdict per phase, the charts of both runs on
//! shared axes, the summary and the configuration. Everything inline: it
//! opens offline.

use std::fmt::Write as _;

use super::chart::escape;
use super::stats::PhaseStats;
use super::{Run, config, figures, summary};

/// The whole report.
pub fn html(
    naive: &Run,
    buttress: &Run,
    n: &[PhaseStats],
    b: &[PhaseStats],
    summary: &str,
) -> String {
    let charts = figures::all(naive, buttress);
    let mut page = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Buttress cascade demo</title>
<style>body{font-family:Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em;margin-top:.3em}svg{max-width:100%;height:auto}
table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}</style></head><body>
<h1>Cascade demo: naive calls vs Buttress stacks</h1>
<p>Three services A → B → C on 127.0.0.1; B needs C for part of its answer only, and has room for 200 requests a second. The same script plays twice: with naive HTTP calls (the callers' 1 s timeout per call, two immediate retries), then with Buttress stacks (their configuration is at the end).</p>
<h2>Verdict per phase</h2><table><tr><th>phase</th><th>what Buttress changed</th></tr>"#,
    );
    for (phase, verdict) in summary::verdicts(n, b) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            phase.label(),
            escape(&verdict)
        );
    }
    page.push_str("</table>");
    for (svg, caption) in charts {
        let _ = write!(
            page,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            escape(caption)
        );
    }
    let _ = write!(
        page,
        "<h2>Summary</h2><pre>{}</pre><h2>The Buttress configuration</h2><p>From {}.</p><h3>a.toml</h3><pre>{}</pre><h3>b.toml</h3><pre>{}</pre></body></html>",
        escape(summary),
        escape(config::SOURCE),
        escape(config::A_TOML),
        escape(config::B_TOML)
    );
    page
}
