//! The Grafana dashboard (`ops/grafana/buttress.json`) and the Prometheus
//! alerting rules (`ops/prometheus/alerts.yml`) speak of metrics that
//! exist, under the names and labels the exporter really produces.
//!
//! - `promtool check rules` passes on the rules and on every dashboard
//!   expression (templated variables filled in), and `promtool test rules`
//!   passes on `ops/prometheus/alerts_test.yml`. Without `promtool` on the
//!   PATH this is skipped with a message, unless
//!   `BUTTRESS_REQUIRE_PROMTOOL=1`.
//! - Without `promtool`: every metric name in a panel, a template
//!   variable, an alert or a unit test's input series is a row of the
//!   metrics table (`buttress::metrics::names::METRICS`) under its
//!   Prometheus name, and every label it is selected or grouped by is one
//!   that row carries (or `le`, `job`, `instance`); enumerated label
//!   values (kinds, states, reasons, causes, outcomes) are ones Buttress
//!   emits.
//! - Every metric name a panel, a template variable or an alert uses is
//!   served by the metrics example's `/metrics` after a scripted run: the
//!   shared one (`support/scripted_run.rs`), then the rest of an
//!   operator's day in the same process — a config reload applied and
//!   one refused, hedged calls (one the hedge wins, one the first attempt
//!   wins), a throttle, a bulkhead queue wait, and gRPC calls through the
//!   tonic example's server and client stacks. No name is exempt.
//! - The dashboard has a panel for each family issue 25 lists; each alert
//!   has `for:`, a severity, a summary, a description, a runbook link and
//!   section in `ops/README.md`, and a unit test that fires it.
//!
//! The JSON reader and the YAML and PromQL scanners are small and local:
//! they read the shapes these files use, no more.

#![cfg(all(feature = "stack", feature = "serve", feature = "axum"))]

#[path = "../examples/metrics_server.rs"]
#[allow(dead_code)]
mod example;
#[path = "support/scripted_run.rs"]
mod scripted_run;
mod support;
#[path = "../examples/tonic_grpc.rs"]
mod tonic_grpc;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use buttress::core::Reason;
use buttress::core::telemetry::{LayerKind, RetryCause};
use buttress::metrics::names::{Instrument, METRICS, MetricSpec};
use support::prometheus::{REQUIRE_PROMTOOL, parse, promtool};

fn ops(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(ops(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ------------------------------------------------------------------ JSON

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => &[],
        }
    }
}

/// A strict reader of JSON (RFC 8259), enough to hold the dashboard to it.
struct JsonReader<'a> {
    text: &'a [u8],
    at: usize,
}

impl JsonReader<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut reader = JsonReader {
            text: text.as_bytes(),
            at: 0,
        };
        let value = reader.value()?;
        reader.space();
        if reader.at != reader.text.len() {
            return Err(reader.error("junk after the value"));
        }
        Ok(value)
    }

    fn error(&self, what: &str) -> String {
        let line = self.text[..self.at].iter().filter(|&&b| b == b'\n').count() + 1;
        format!("{what} at line {line}")
    }

    fn space(&mut self) {
        while self.at < self.text.len() && b" \t\r\n".contains(&self.text[self.at]) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        if self.text.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("bad literal"))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.space();
        match self.text.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat(b'}') {
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(self.error(&format!("duplicate key {key:?}")));
                    }
                    if !self.eat(b':') {
                        return Err(self.error("expected ':'"));
                    }
                    fields.push((key, self.value()?));
                    if self.eat(b'}') {
                        return Ok(Json::Obj(fields));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or '}'"));
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected ',' or ']'"));
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self.at < self.text.len() && b"+-.eE0123456789".contains(&self.text[self.at])
                {
                    self.at += 1;
                }
                let number = std::str::from_utf8(&self.text[start..self.at]).expect("ASCII");
                number
                    .parse()
                    .map(Json::Num)
                    .map_err(|_| self.error(&format!("bad number {number:?}")))
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.text.get(self.at) != Some(&b'"') {
            return Err(self.error("expected a string"));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.text.get(self.at) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|_| self.error("bad UTF-8"));
                }
                Some(b'\\') => {
                    let escaped = self.text.get(self.at + 1).copied();
                    self.at += 2;
                    let c = match escaped {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hex = self
                                .text
                                .get(self.at..self.at + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.error("bad \\u escape"))?;
                            self.at += 4;
                            char::from_u32(hex).ok_or_else(|| self.error("a lone surrogate"))?
                        }
                        _ => return Err(self.error("bad escape")),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                Some(&b) if b < 0x20 => return Err(self.error("control character in a string")),
                Some(&b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------- PromQL

/// One series selector: `metric{label op "value", …}`.
#[derive(Debug, Default, Clone)]
struct Selector {
    metric: Option<String>,
    matchers: Vec<(String, String, String)>,
}

/// What an expression selects and groups by.
#[derive(Debug, Default)]
struct Uses {
    selectors: Vec<Selector>,
    /// Labels in `by`, `without`, `on`, `ignoring`, `group_left`,
    /// `group_right`.
    grouping: BTreeSet<String>,
}

impl Uses {
    fn metrics(&self) -> BTreeSet<&str> {
        self.selectors
            .iter()
            .filter_map(|s| s.metric.as_deref())
            .collect()
    }

    fn matches(&self, metric: &str, label: &str, value: &str) -> bool {
        self.selectors.iter().any(|s| {
            s.metric.as_deref() == Some(metric)
                && s.matchers
                    .iter()
                    .any(|(l, _, v)| l == label && (value.is_empty() || v == value))
        })
    }
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
    "Inf",
    "NaN",
    // Aggregation operators, which may take `by (…)` before their `(`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Scans a PromQL expression (Grafana's `$variables` allowed) for the
/// metrics it selects, their matchers, and the labels it groups by.
fn scan_promql(expr: &str) -> Result<Uses, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut uses = Uses::default();
    let mut i = 0;
    // The selector a following `{` belongs to.
    let mut pending: Option<String> = None;
    let skip_space = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let read_string = |i: &mut usize| -> Result<String, String> {
        let quote = chars[*i];
        *i += 1;
        let mut out = String::new();
        while *i < chars.len() && chars[*i] != quote {
            if chars[*i] == '\\' && quote != '`' {
                *i += 1;
            }
            if let Some(&c) = chars.get(*i) {
                out.push(c);
            }
            *i += 1;
        }
        if *i >= chars.len() {
            return Err(format!("unterminated string in {expr}"));
        }
        *i += 1;
        Ok(out)
    };
    let read_ident = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && ident_char(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '{' {
            let mut selector = Selector {
                metric: pending.take(),
                matchers: Vec::new(),
            };
            i += 1;
            loop {
                i = skip_space(i);
                match chars.get(i) {
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    Some(',') => i += 1,
                    Some(&c) if ident_start(c) => {
                        let label = read_ident(&mut i);
                        i = skip_space(i);
                        let op: String = chars[i..]
                            .iter()
                            .take_while(|c| "=!~".contains(**c))
                            .collect();
                        if !["=", "!=", "=~", "!~"].contains(&op.as_str()) {
                            return Err(format!("bad matcher after {label} in {expr}"));
                        }
                        i = skip_space(i + op.len());
                        if !matches!(chars.get(i), Some('"' | '\'' | '`')) {
                            return Err(format!("{label}{op} needs a string in {expr}"));
                        }
                        let value = read_string(&mut i)?;
                        selector.matchers.push((label, op, value));
                    }
                    _ => return Err(format!("bad selector in {expr}")),
                }
            }
            uses.selectors.push(selector);
            continue;
        }
        if let Some(metric) = pending.take() {
            uses.selectors.push(Selector {
                metric: Some(metric),
                matchers: Vec::new(),
            });
        }
        match c {
            '"' | '\'' | '`' => {
                read_string(&mut i)?;
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    read_ident(&mut i);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if ident_start(c) => {
                let word = read_ident(&mut i);
                let next = skip_space(i);
                if GROUPING.contains(&word.as_str()) {
                    if chars.get(next) == Some(&'(') {
                        i = next + 1;
                        loop {
                            i = skip_space(i);
                            match chars.get(i) {
                                Some(')') => {
                                    i += 1;
                                    break;
                                }
                                Some(',') => i += 1,
                                Some(&c) if ident_start(c) => {
                                    uses.grouping.insert(read_ident(&mut i));
                                }
                                _ => return Err(format!("bad label list after {word} in {expr}")),
                            }
                        }
                    }
                } else if chars.get(next) == Some(&'(') || KEYWORDS.contains(&word.as_str()) {
                    // A function or an operator.
                } else {
                    pending = Some(word);
                }
            }
            _ => i += 1,
        }
    }
    if let Some(metric) = pending {
        uses.selectors.push(Selector {
            metric: Some(metric),
            matchers: Vec::new(),
        });
    }
    Ok(uses)
}

/// Scans a Grafana variable query: `label_values(selector, label)`,
/// `label_values(label)`, or plain PromQL.
fn scan_variable_query(query: &str) -> Result<Uses, String> {
    let Some(inner) = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
    else {
        return scan_promql(query);
    };
    let (selector, label) = match inner.rsplit_once(',') {
        Some((selector, label)) => (selector, label),
        None => ("", inner),
    };
    let mut uses = scan_promql(selector)?;
    uses.grouping.insert(label.trim().to_owned());
    Ok(uses)
}

// ------------------------------------------------- names, labels, values

/// The table row a Prometheus series name comes from, and whether it is
/// a histogram's `_bucket`.
fn row_of(name: &str) -> Option<(&'static MetricSpec, bool)> {
    METRICS.iter().find_map(|spec| {
        let family = spec.prometheus_name();
        if spec.instrument != Instrument::Histogram {
            return (name == family).then_some((spec, false));
        }
        let suffix = name.strip_prefix(&family)?;
        ["_bucket", "_sum", "_count"]
            .contains(&suffix)
            .then_some((spec, suffix == "_bucket"))
    })
}

/// The labels a series of `name` may be selected by.
fn labels_of(name: &str) -> BTreeSet<String> {
    let mut labels: BTreeSet<String> = ["job", "instance"].map(String::from).into();
    if let Some((spec, bucket)) = row_of(name) {
        labels.extend(spec.labels.iter().map(|l| l.replace('.', "_")));
        if bucket {
            labels.insert("le".into());
        }
    }
    labels
}

/// The values Buttress gives a label with a closed set of them.
fn values_of(label: &str) -> Option<BTreeSet<String>> {
    let set = |values: Vec<&str>| Some(values.into_iter().map(String::from).collect());
    match label {
        "buttress_layer_kind" => set(LayerKind::ALL.iter().map(|k| k.as_str()).collect()),
        "buttress_state" | "buttress_from" | "buttress_to" => set(LayerKind::ALL
            .iter()
            .flat_map(|k| k.emits().states.iter().copied())
            .collect()),
        "buttress_reason" => set(Reason::ALL.iter().map(|r| r.as_str()).collect()),
        "buttress_cause" => set(RetryCause::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(Reason::ALL.iter().map(|r| r.as_str()))
            .chain(["failure"])
            .collect()),
        "buttress_outcome" => set(vec![
            "success",
            "failure",
            "ignored",
            "cancelled",
            "rejected",
            "fallback",
        ]),
        _ => None,
    }
}

/// What is wrong with the names, labels and values `uses` refers to.
fn problems(what: &str, uses: &Uses) -> Vec<String> {
    let mut out = Vec::new();
    let mut all_labels = BTreeSet::new();
    for selector in &uses.selectors {
        let Some(metric) = &selector.metric else {
            out.push(format!("{what}: a selector without a metric name"));
            continue;
        };
        if row_of(metric).is_none() {
            out.push(format!(
                "{what}: {metric} is no metric Buttress exports (not in METRICS under its Prometheus name)"
            ));
            continue;
        }
        let labels = labels_of(metric);
        for (label, op, value) in &selector.matchers {
            if !labels.contains(label) {
                out.push(format!("{what}: {metric} has no label {label}"));
            }
            // An equality names one value; a regex that is a plain
            // alternation (`open|half_open`) names each of its own.
            let named: Vec<&str> = match op.as_str() {
                "=" | "!=" => vec![value.as_str()],
                _ if value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '|') =>
                {
                    value.split('|').collect()
                }
                _ => Vec::new(),
            };
            if let Some(known) = values_of(label) {
                for v in named {
                    if !known.contains(v) {
                        out.push(format!("{what}: {label} is never {v:?}"));
                    }
                }
            }
        }
        all_labels.extend(labels);
    }
    for label in &uses.grouping {
        if !all_labels.contains(label) {
            out.push(format!(
                "{what}: groups by {label}, which none of {:?} carries",
                uses.metrics()
            ));
        }
    }
    out
}

// ------------------------------------------------------------- the files

/// Every query in the dashboard: (where, query, is a variable query).
fn dashboard_queries(dashboard: &Json) -> Vec<(String, String, bool)> {
    fn walk(panels: &[Json], out: &mut Vec<(String, String, bool)>) {
        for panel in panels {
            let title = panel.get("title").and_then(Json::str).unwrap_or("?");
            for target in panel.get("targets").map(Json::arr).unwrap_or_default() {
                let expr = target.get("expr").and_then(Json::str).unwrap_or_default();
                out.push((format!("panel {title:?}"), expr.to_owned(), false));
            }
            walk(panel.get("panels").map(Json::arr).unwrap_or_default(), out);
        }
    }
    let mut out = Vec::new();
    walk(
        dashboard.get("panels").map(Json::arr).unwrap_or_default(),
        &mut out,
    );
    let variables = dashboard
        .get("templating")
        .and_then(|t| t.get("list"))
        .map(Json::arr)
        .unwrap_or_default();
    for variable in variables {
        if variable.get("type").and_then(Json::str) == Some("query") {
            let name = variable.get("name").and_then(Json::str).unwrap_or("?");
            let query = variable.get("query").expect("a query variable has a query");
            let query = query
                .get("query")
                .and_then(Json::str)
                .or(query.str())
                .unwrap_or_default();
            out.push((format!("variable ${name}"), query.to_owned(), true));
        }
    }
    out
}

fn dashboard() -> Json {
    JsonReader::parse(&read("ops/grafana/buttress.json"))
        .unwrap_or_else(|e| panic!("ops/grafana/buttress.json: {e}"))
}

/// One alerting rule, as the scanner reads it.
#[derive(Debug, Default)]
struct Rule {
    alert: String,
    expr: String,
    fields: BTreeMap<String, String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

/// The alerting rules of a rules file: each `- alert:` block, its `expr`
/// (inline or a `|` block) and its other `key: value` lines.
fn scan_rules(text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.push(Rule {
                alert: unquote(name).to_owned(),
                ..Rule::default()
            });
        } else if trimmed.starts_with("- ") || trimmed.starts_with("groups:") {
            // A rule that is not an alert, or a group: not ours to read.
            if !trimmed.starts_with("- name:") && !trimmed.starts_with("groups:") {
                rules.push(Rule::default());
            }
        } else if let (Some(rule), Some((key, value))) = (rules.last_mut(), trimmed.split_once(':'))
        {
            let key = key.trim().to_owned();
            let value = value.trim();
            if key == "expr" && (value.starts_with('|') || value.starts_with('>')) {
                let depth = indent(line);
                let mut block = Vec::new();
                while i + 1 < lines.len()
                    && (lines[i + 1].trim().is_empty() || indent(lines[i + 1]) > depth)
                {
                    i += 1;
                    block.push(lines[i].trim());
                }
                rule.expr = block.join("\n");
            } else if key == "expr" {
                rule.expr = unquote(value).to_owned();
            } else if !trimmed.starts_with('#') {
                rule.fields.insert(key, unquote(value).to_owned());
            }
        }
        i += 1;
    }
    rules.retain(|rule| !rule.alert.is_empty());
    rules
}

/// The labels an annotation refers to as `$labels.name`.
fn labels_in_template(text: &str) -> BTreeSet<String> {
    text.match_indices("$labels.")
        .map(|(at, found)| {
            text[at + found.len()..]
                .chars()
                .take_while(|&c| ident_char(c))
                .collect()
        })
        .collect()
}

/// Of the unit tests: each alert that a case expects to fire, and each
/// input series.
fn scan_unit_tests(text: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut fired = BTreeSet::new();
    let mut series = Vec::new();
    let mut alertname = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(value) = trimmed.strip_prefix("series:") {
            series.push(unquote(value).to_owned());
        } else if let Some(value) = trimmed.strip_prefix("alertname:") {
            alertname = unquote(value).to_owned();
        } else if let Some(value) = trimmed.strip_prefix("exp_alerts:")
            && value.trim() != "[]"
        {
            fired.insert(alertname.clone());
        }
    }
    (fired, series)
}

// ----------------------------------------------------------------- tests

fn promtool_or_skip(args: &[&str]) -> Option<String> {
    match promtool(args) {
        Some((true, said)) => Some(said),
        Some((false, said)) => panic!("promtool {}:\n{said}", args.join(" ")),
        None if std::env::var(REQUIRE_PROMTOOL).as_deref() == Ok("1") => {
            panic!("{REQUIRE_PROMTOOL}=1 but promtool is not installed (Debian: prometheus)")
        }
        None => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promtool {}: promtool is not installed (Debian's `prometheus` \
                 package has it; .ci/run installs it and sets {REQUIRE_PROMTOOL}=1). \
                 The other checks of tests/ops_rules.rs ran.",
                args.join(" ")
            );
            None
        }
    }
}

#[test]
fn promtool_checks_the_rules_runs_their_unit_tests_and_parses_every_panel() {
    let rules = ops("ops/prometheus/alerts.yml");
    let Some(said) = promtool_or_skip(&["check", "rules", rules.to_str().unwrap()]) else {
        return;
    };
    assert!(said.contains("SUCCESS"), "{said}");
    let tests = ops("ops/prometheus/alerts_test.yml");
    let said = promtool_or_skip(&["test", "rules", tests.to_str().unwrap()]).expect("installed");
    assert!(said.contains("SUCCESS"), "{said}");

    // Every dashboard query parses: as recording rules, variables filled.
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = dashboard_queries(&dashboard());
    for (n, (_, expr, variable)) in queries.iter().enumerate() {
        if *variable {
            continue;
        }
        let expr = ["$__rate_interval", "$__interval"]
            .iter()
            .fold(expr.clone(), |e, v| e.replace(v, "5m"));
        let expr = ["$service", "$route", "$dependency", "$layer"]
            .iter()
            .fold(expr, |e, v| e.replace(v, ".*"));
        file.push_str(&format!(
            "      - record: dashboard:query{n}\n        expr: |\n"
        ));
        for line in expr.lines() {
            file.push_str(&format!("          {line}\n"));
        }
    }
    let path = std::env::temp_dir().join(format!("buttress-dashboard-{}.yml", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let checked = promtool(&["check", "rules", path.to_str().unwrap()]).expect("installed");
    let _ = std::fs::remove_file(&path);
    assert!(
        checked.0,
        "a dashboard query does not parse:\n{}\n{file}",
        checked.1
    );
}

/// The config file of the rest of the day: a server whose bulkhead lets
/// one call in at a time (the next one queues), and a client that hedges
/// after 10 ms behind a throttle.
fn ops_toml(max_concurrent: u32) -> String {
    format!(
        r#"
[server]
name = "ops"

[server.bulkhead]
max_concurrent = {max_concurrent}
queue_capacity = 8
max_wait = "5s"

[clients.search.hedge]
delay = "10ms"

[clients.search.throttle]
k = 2.0
"#
    )
}

/// What the scripted run leaves out and the dashboard and the alerts
/// show, done in the process whose recorder the metrics example serves.
async fn the_rest_of_the_day() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use buttress::config::{Reloader, ServiceConfig};
    use tower::{Layer, ServiceExt};

    // A real file, reloaded on demand: once applied, once refused.
    let dir = std::env::temp_dir().join(format!("buttress-ops-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("service.toml");
    std::fs::write(&path, ops_toml(1)).unwrap();
    let config = ServiceConfig::from_path(&path).unwrap();
    let server = config.build_server().unwrap();
    // Built with its throttle: the throttle reports its probability.
    let search = config
        .client_stack("search")
        .unwrap()
        .clone_requests()
        .build()
        .unwrap();
    assert!(search.throttle().is_some());
    let reloader = Reloader::new(&path)
        .server(&server)
        .client("search", &search);
    std::fs::write(&path, ops_toml(1).replace("\"5s\"", "\"4s\"")).unwrap();
    reloader.reload().expect("a valid file applies");
    std::fs::write(&path, ops_toml(0)).unwrap();
    let refused = reloader
        .reload()
        .expect_err("max_concurrent = 0 is refused");
    assert_eq!(refused.field(), "server.bulkhead.max_concurrent");
    let _ = std::fs::remove_dir_all(&dir);

    // Two calls at once through a bulkhead of one: the second queues.
    let slow = server.layer(tower::service_fn(|_: http::Request<String>| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    }));
    let call = || slow.clone().oneshot(http::Request::new(String::new()));
    let (a, b) = tokio::join!(call(), call());
    assert_eq!([a.unwrap().status(), b.unwrap().status()], [200, 200]);

    // Hedged calls: attempt 0 hangs and its hedge (attempt 1) wins, the
    // hanging one cancelled; then attempt 2 answers before its hedges
    // (from attempt 3, hanging), which are cancelled.
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let transport = tower::service_fn(move |_: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            let ms = [1_000, 5, 40, 1_000][n as usize % 4];
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, std::io::Error>(http::Response::new(()))
        }
    });
    let hedged = search.layer(transport);
    for _ in 0..2 {
        let answer = hedged.clone().oneshot(http::Request::new(())).await;
        assert_eq!(answer.unwrap().status(), 200);
    }
    let sent = attempts.load(Ordering::SeqCst);
    assert!(
        sent >= 4,
        "each call was hedged: {sent} attempts for 2 calls"
    );

    // gRPC through the tonic example's server and client stacks.
    let addr = tonic_grpc::serve().await;
    assert_eq!(tonic_grpc::check(addr).await.unwrap(), 1, "SERVING");
}

/// Serves the metrics example's app again (the recorder it installed is
/// the process's) and reads its `/metrics`.
async fn metrics_again() -> String {
    let (prometheus, health) = example::install();
    let app = example::app(prometheus, health, "http://127.0.0.1:1".parse().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.unwrap() });
    let mut conn = support::Connection::open(addr).await;
    let answer = conn.get("/metrics", &[]).await;
    assert_eq!(answer.status, 200);
    String::from_utf8(answer.body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_and_label_the_dashboard_and_the_rules_use_is_one_buttress_exports() {
    let _ = scripted_run::scripted_run().await;
    the_rest_of_the_day().await;
    let text = metrics_again().await;
    let exposition = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let served: BTreeSet<&str> = exposition.samples.iter().map(|s| s.name.as_str()).collect();

    let mut found = Vec::new();
    let mut used = BTreeSet::new();
    for (what, query, variable) in dashboard_queries(&dashboard()) {
        let scanned = if variable {
            scan_variable_query(&query)
        } else {
            scan_promql(&query)
        };
        let uses = scanned.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            !uses.selectors.is_empty(),
            "{what} selects nothing: {query}"
        );
        found.extend(problems(&what, &uses));
        used.extend(uses.metrics().into_iter().map(String::from));
    }
    for rule in scan_rules(&read("ops/prometheus/alerts.yml")) {
        let what = format!("alert {}", rule.alert);
        let uses = scan_promql(&rule.expr).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!uses.selectors.is_empty(), "{what} selects nothing");
        found.extend(problems(&what, &uses));
        // The labels its annotations name survive the expression's
        // aggregation: they are grouped by, or the result keeps them all.
        let carried: BTreeSet<String> = if uses.grouping.is_empty() {
            uses.metrics().into_iter().flat_map(labels_of).collect()
        } else {
            uses.grouping.clone()
        };
        for (key, value) in &rule.fields {
            for label in labels_in_template(value) {
                if !carried.contains(&label) {
                    found.push(format!(
                        "{what}: {key} names $labels.{label}, not in its result"
                    ));
                }
            }
        }
        used.extend(uses.metrics().into_iter().map(String::from));
    }
    let (_, series) = scan_unit_tests(&read("ops/prometheus/alerts_test.yml"));
    for input in series {
        let what = format!("unit test series {input}");
        let uses = scan_promql(&input).unwrap_or_else(|e| panic!("{what}: {e}"));
        found.extend(problems(&what, &uses));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));

    let (seen, unseen): (Vec<&String>, Vec<&String>) =
        used.iter().partition(|m| served.contains(m.as_str()));
    println!(
        "the dashboard and the alerts use {} metric names; the metrics example serves {} \
         of them after the scripted run: {seen:?}",
        used.len(),
        seen.len()
    );
    assert!(
        unseen.is_empty(),
        "used by the dashboard or the alerts, not in the example's /metrics after the run: \
         {unseen:?}"
    );
}

#[test]
fn the_checks_refuse_a_made_up_metric_a_wrong_label_and_a_wrong_value() {
    let check = |expr: &str| problems("test", &scan_promql(expr).unwrap());
    assert!(check(r#"sum by (buttress_reason) (rate(buttress_rejections_total{buttress_layer_kind="bulkhead"}[5m]))"#).is_empty());
    assert!(check("histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))").is_empty());
    for wrong in [
        "rate(buttress_rejections[5m])",
        "rate(buttress_rejection_total[5m])",
        "http_server_request_duration_seconds",
        "sum by (le) (rate(http_server_request_duration_seconds_count[5m]))",
        r#"rate(buttress_rejections_total{buttress_route="x"}[5m])"#,
        r#"buttress_state{buttress_layer_kind="breaker", buttress_state="half-open"}"#,
        r#"sum by (http_route) (rate(http_client_request_duration_seconds_count[5m]))"#,
        "rate(up[5m])",
    ] {
        assert!(!check(wrong).is_empty(), "{wrong} passed");
    }
}

#[test]
fn the_dashboard_is_importable_and_has_a_panel_for_each_family() {
    let dashboard = dashboard();
    let schema = match dashboard.get("schemaVersion") {
        Some(Json::Num(n)) => *n,
        other => panic!("schemaVersion: {other:?}"),
    };
    assert!(schema >= 39.0, "schemaVersion {schema}");
    let variables = dashboard
        .get("templating")
        .and_then(|t| t.get("list"))
        .map(Json::arr)
        .unwrap_or_default();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v.get("name").and_then(Json::str) == Some(name))
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let datasource = variable("datasource");
    assert_eq!(
        datasource.get("type").and_then(Json::str),
        Some("datasource")
    );
    assert_eq!(
        datasource.get("query").and_then(Json::str),
        Some("prometheus")
    );
    for name in ["service", "route", "dependency", "layer"] {
        assert_eq!(
            variable(name).get("type").and_then(Json::str),
            Some("query")
        );
    }

    // Panels: unique ids, each query on the templated data source.
    let mut ids = BTreeSet::new();
    let mut panels = Vec::new();
    fn walk<'a>(list: &'a [Json], out: &mut Vec<&'a Json>) {
        for panel in list {
            out.push(panel);
            walk(panel.get("panels").map(Json::arr).unwrap_or_default(), out);
        }
    }
    walk(
        dashboard.get("panels").map(Json::arr).unwrap_or_default(),
        &mut panels,
    );
    let mut uses = Vec::new();
    for panel in &panels {
        let title = panel.get("title").and_then(Json::str).unwrap_or("?");
        let Some(Json::Num(id)) = panel.get("id") else {
            panic!("panel {title:?} has no id");
        };
        assert!(ids.insert(*id as i64), "panel id {id} twice");
        assert!(
            panel.get("gridPos").is_some(),
            "panel {title:?} has no gridPos"
        );
        if panel.get("type").and_then(Json::str) == Some("row") {
            continue;
        }
        let targets = panel.get("targets").map(Json::arr).unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} queries nothing");
        for target in targets {
            let uid = target
                .get("datasource")
                .and_then(|d| d.get("uid"))
                .and_then(Json::str);
            assert_eq!(uid, Some("${datasource}"), "panel {title:?}");
            let expr = target.get("expr").and_then(Json::str).unwrap_or_default();
            uses.push((title, scan_promql(expr).unwrap()));
        }
    }

    // Each family issue 25 lists: (family, metric, grouped by, selected by).
    let families: &[(&str, &str, &str, (&str, &str))] = &[
        (
            "request rate per route",
            "http_server_request_duration_seconds_count",
            "http_route",
            ("", ""),
        ),
        (
            "errors per route",
            "http_server_request_duration_seconds_count",
            "http_route",
            ("http_response_status_code", ""),
        ),
        (
            "latency per route",
            "http_server_request_duration_seconds_bucket",
            "http_route",
            ("", ""),
        ),
        (
            "request rate per dependency",
            "http_client_request_duration_seconds_count",
            "buttress_name",
            ("", ""),
        ),
        (
            "errors per dependency",
            "http_client_request_duration_seconds_count",
            "buttress_name",
            ("buttress_outcome", ""),
        ),
        (
            "latency per dependency",
            "http_client_request_duration_seconds_bucket",
            "buttress_name",
            ("", ""),
        ),
        (
            "breaker states",
            "buttress_state",
            "",
            ("buttress_layer_kind", "breaker"),
        ),
        (
            "breaker transitions",
            "buttress_transitions_total",
            "buttress_to",
            ("", ""),
        ),
        (
            "rejections by reason",
            "buttress_rejections_total",
            "buttress_reason",
            ("", ""),
        ),
        (
            "retries by cause",
            "buttress_retries_total",
            "buttress_cause",
            ("", ""),
        ),
        ("hedges", "buttress_hedges_total", "", ("", "")),
        (
            "retry budget exhaustion",
            "buttress_retry_budget_exhausted_total",
            "",
            ("", ""),
        ),
        ("concurrency limit", "buttress_limit", "", ("", "")),
        ("in flight", "buttress_in_flight", "", ("", "")),
        ("queue depth", "buttress_queue_depth", "", ("", "")),
        (
            "shed level",
            "buttress_state",
            "",
            ("buttress_layer_kind", "shed"),
        ),
        ("throttle probability", "buttress_probability", "", ("", "")),
        (
            "fallbacks by cause",
            "http_client_request_duration_seconds_count",
            "",
            ("buttress_outcome", "fallback"),
        ),
        (
            "fallbacks by cause",
            "buttress_fallbacks_total",
            "buttress_cause",
            ("", ""),
        ),
        (
            "config reload failures",
            "buttress_config_reload_failures_total",
            "",
            ("", ""),
        ),
    ];
    for (family, metric, grouped, (label, value)) in families {
        let covered = uses.iter().any(|(_, u)| {
            u.metrics().contains(metric)
                && (grouped.is_empty() || u.grouping.contains(*grouped))
                && (label.is_empty() || u.matches(metric, label, value))
        });
        assert!(covered, "no panel shows {family} ({metric})");
    }
}

#[test]
fn each_alert_has_for_severity_annotations_a_runbook_and_a_unit_test_that_fires_it() {
    let rules = scan_rules(&read("ops/prometheus/alerts.yml"));
    let readme = read("ops/README.md");
    let (fired, _) = scan_unit_tests(&read("ops/prometheus/alerts_test.yml"));
    let names: BTreeSet<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    for wanted in [
        "ButtressBreakerStuckOpen",
        "ButtressRetryBudgetExhausted",
        "ButtressSheddingSustained",
        "ButtressConfigReloadFailed",
        "ButtressRouteErrorRatioHigh",
        "ButtressRouteLatencyP99High",
        "ButtressRejectionsSustained",
    ] {
        assert!(names.contains(wanted), "no alert {wanted}");
    }
    for rule in &rules {
        let name = &rule.alert;
        assert!(!rule.expr.trim().is_empty(), "{name} has no expr");
        let field = |key: &str| rule.fields.get(key).map(String::as_str).unwrap_or_default();
        assert!(
            field("for").ends_with('m'),
            "{name}: for: {:?}",
            field("for")
        );
        assert!(
            ["critical", "warning", "info"].contains(&field("severity")),
            "{name}: severity {:?}",
            field("severity")
        );
        assert!(!field("summary").is_empty(), "{name} has no summary");
        assert!(
            !field("description").is_empty(),
            "{name} has no description"
        );
        assert!(
            field("runbook_url").ends_with(&format!("ops/README.md#{}", name.to_lowercase())),
            "{name}: runbook_url {:?}",
            field("runbook_url")
        );
        assert!(
            readme.contains(&format!("\n### {name}\n")),
            "ops/README.md has no runbook section ### {name}"
        );
        assert!(fired.contains(name), "no unit test fires {name}");
    }
}
