//! Which field of a TOML document a parse error points at: the dotted
//! path of the deepest key whose key or value covers the error's span.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The dotted path (`clients.inventory.breaker.wait`) of what `span` of
/// `source` points at, if anything.
///
/// serde reads an internally tagged enum (`window = { kind = "time",
/// duration = "…" }`) as a whole, so an error in one of its fields spans
/// the whole table. When `message` quotes the offending string
/// (`invalid value: string "…"`) and exactly one key under that table
/// holds it, the path is that key's.
pub(super) fn path_at(source: &str, span: &Range<usize>, message: &str) -> Option<String> {
    let document = DeTable::parse(source).ok()?;
    let mut best = Best {
        quoted: quoted_string(message),
        ..Best::default()
    };
    walk_table(document.get_ref(), &mut Vec::new(), span, &mut best);
    best.path
}

#[derive(Default)]
struct Best<'m> {
    depth: usize,
    path: Option<String>,
    /// The string value the error message quotes, if any.
    quoted: Option<&'m str>,
}

/// The string serde's `invalid value` errors quote: `string "…"`.
fn quoted_string(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("string \"")?;
    rest.split_once('"').map(|(quoted, _)| quoted)
}

/// The paths, below `path`, of the string values in `table` equal to `text`.
fn holding(table: &DeTable<'_>, text: &str, path: &mut Vec<String>, found: &mut Vec<String>) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        match value.get_ref() {
            DeValue::String(value) if value == text => found.push(join(path)),
            DeValue::Table(inner) => holding(inner, text, path, found),
            _ => {}
        }
        path.pop();
    }
}

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn walk_table(
    table: &DeTable<'_>,
    path: &mut Vec<String>,
    span: &Range<usize>,
    best: &mut Best<'_>,
) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        visit(
            value.get_ref(),
            covers(&key.span(), span) || covers(&value.span(), span),
            path,
            span,
            best,
        );
        path.pop();
    }
}

fn visit(
    value: &DeValue<'_>,
    hit: bool,
    path: &mut Vec<String>,
    span: &Range<usize>,
    best: &mut Best<'_>,
) {
    if hit && path.len() >= best.depth {
        best.depth = path.len();
        best.path = Some(join(path));
        if let (DeValue::Table(table), Some(text)) = (value, best.quoted) {
            let mut found = Vec::new();
            holding(table, text, path, &mut found);
            if let [only] = found.as_mut_slice() {
                best.path = Some(std::mem::take(only));
            }
        }
    }
    match value {
        DeValue::Table(table) => walk_table(table, path, span, best),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(format!("[{index}]"));
                visit(item.get_ref(), covers(&item.span(), span), path, span, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn join(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}
