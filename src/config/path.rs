//! Which field of a TOML document a parse error points at: the dotted
//! path of the deepest key whose key or value covers the error's span.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The dotted path (`clients.inventory.breaker.wait`) of what `span` of
/// `source` points at, if anything.
pub(super) fn path_at(source: &str, span: &Range<usize>) -> Option<String> {
    let document = DeTable::parse(source).ok()?;
    let mut best = Best::default();
    walk_table(document.get_ref(), &mut Vec::new(), span, &mut best);
    best.path
}

#[derive(Default)]
struct Best {
    depth: usize,
    path: Option<String>,
}

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn walk_table(table: &DeTable<'_>, path: &mut Vec<String>, span: &Range<usize>, best: &mut Best) {
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
    best: &mut Best,
) {
    if hit && path.len() >= best.depth {
        best.depth = path.len();
        best.path = Some(join(path));
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
