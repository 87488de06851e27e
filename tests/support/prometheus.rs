//! A strict reader of the Prometheus text exposition format (0.0.4), for
//! checking what `/metrics` serves.

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: the declared type of each family, and the samples.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn is_name(name: &str, first: fn(char) -> bool) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(first)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn metric_name(name: &str) -> bool {
    is_name(name, |c| c.is_ascii_alphabetic() || c == '_' || c == ':')
}

fn label_name(name: &str) -> bool {
    is_name(name, |c| c.is_ascii_alphabetic() || c == '_') && !name.contains(':')
}

fn value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

fn labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("bad labels {text:?}"))?;
        if !label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {text:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => return Err("newline in label value".into()),
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        };
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("duplicate label {name:?}"));
        }
        rest = &after[end + 1..];
        rest = match rest.strip_prefix(',') {
            Some(more) => more,
            None if rest.is_empty() => rest,
            None => return Err(format!("junk after label in {text:?}")),
        };
    }
    Ok(out)
}

/// Parses `text`, failing on anything the format does not allow, on a
/// sample of an undeclared family, and on histograms whose buckets are
/// not cumulative or disagree with their count.
pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    let mut exposition = Exposition::default();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !metric_name(name) {
                        return Err(format!("bad metric name {name:?}"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("bad type {kind:?}"));
                    }
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(format!("{name} declared twice"));
                    }
                }
                (Some("HELP"), Some(name), _) if !metric_name(name) => {
                    return Err(format!("bad metric name {name:?}"));
                }
                _ => {}
            }
            continue;
        }
        let (series, rest) = match line.find('{') {
            Some(_) => {
                let close = line
                    .rfind('}')
                    .ok_or_else(|| format!("unclosed labels: {line:?}"))?;
                (&line[..close + 1], &line[close + 1..])
            }
            None => line.split_at(
                line.find(' ')
                    .ok_or_else(|| format!("no value: {line:?}"))?,
            ),
        };
        let (name, label_text) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or(labels)),
            None => (series, ""),
        };
        if !metric_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut fields = rest.trim_start_matches(' ').split(' ');
        let sample_value = value(fields.next().unwrap_or_default())?;
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| format!("bad timestamp in {line:?}"))?;
        }
        if fields.next().is_some() {
            return Err(format!("junk after value: {line:?}"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|f| exposition.types.contains_key(*f))
            })
            .unwrap_or(name);
        if !exposition.types.contains_key(family) {
            return Err(format!("sample of undeclared family {name:?}"));
        }
        exposition.samples.push(Sample {
            name: name.to_owned(),
            labels: labels(label_text)?,
            value: sample_value,
        });
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// A histogram series' labels without `le`, in order.
type SeriesLabels = Vec<(String, String)>;
/// `(le, cumulative count)` pairs of one series.
type Buckets = Vec<(f64, f64)>;

fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        let mut buckets: BTreeMap<SeriesLabels, Buckets> = BTreeMap::new();
        for sample in exposition.family(&format!("{family}_bucket")) {
            let mut labels = sample.labels.clone();
            let le = labels
                .remove("le")
                .ok_or_else(|| format!("{family} bucket without le"))?;
            buckets
                .entry(labels.into_iter().collect())
                .or_default()
                .push((value(&le)?, sample.value));
        }
        for (labels, mut series) in buckets {
            series.sort_by(|a, b| a.0.total_cmp(&b.0));
            if series.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family} buckets are not cumulative"));
            }
            let last = series.last().copied().unwrap_or_default();
            if last.0 != f64::INFINITY {
                return Err(format!("{family} lacks a +Inf bucket"));
            }
            let label_map: BTreeMap<String, String> = labels.into_iter().collect();
            let count = exposition
                .family(&format!("{family}_count"))
                .into_iter()
                .find(|s| s.labels == label_map)
                .ok_or_else(|| format!("{family} lacks a count"))?;
            if count.value != last.1 {
                return Err(format!(
                    "{family}: +Inf bucket {} != count {}",
                    last.1, count.value
                ));
            }
        }
    }
    Ok(())
}

/// The environment variable that makes a missing `promtool` a failure
/// (`.ci/run` sets it, after installing Debian's `prometheus` package).
pub const REQUIRE_PROMTOOL: &str = "BUTTRESS_REQUIRE_PROMTOOL";

/// What `promtool check metrics` says of `text` (its problems, one a
/// line; empty when it has none), or `None` when `promtool` is not
/// installed.
pub fn promtool_check(text: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("promtool did not start: {error}"),
    };
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("promtool reads the exposition");
    let output = child.wait_with_output().expect("promtool ends");
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() && said.trim().is_empty() {
        said = format!("promtool failed: {}", output.status);
    }
    Some(said)
}

/// Runs `promtool` with `args`: whether it succeeded and what it said
/// (stdout, then stderr), or `None` when `promtool` is not installed.
pub fn promtool(args: &[&str]) -> Option<(bool, String)> {
    let output = match std::process::Command::new("promtool").args(args).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("promtool did not start: {error}"),
    };
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    Some((output.status.success(), said))
}
