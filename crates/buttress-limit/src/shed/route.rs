//! Route templates, matched against a request path without allocating.

use std::fmt;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches this text exactly.
    Literal(Box<str>),
    /// `{name}`: matches any one segment.
    Param,
    /// `{*name}` or `*`, last: matches the rest, however long.
    Rest,
}

/// A route template in axum's syntax — `/users/{id}/orders`,
/// `/static/{*path}` — matched segment by segment against the request
/// path (so it works without axum, on a client, on any `RequestAccess`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RouteTemplate {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl RouteTemplate {
    /// Parses `text`; `None` when it does not start with `/`, or a
    /// wildcard is not last.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix('/')?;
        let pieces: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut segments = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let segment = if *piece == "*" || (piece.starts_with("{*") && piece.ends_with('}')) {
                if i + 1 != pieces.len() {
                    return None;
                }
                Segment::Rest
            } else if piece.starts_with('{') && piece.ends_with('}') && piece.len() > 2 {
                Segment::Param
            } else if piece.contains(['{', '}', '*']) {
                return None;
            } else {
                Segment::Literal((*piece).into())
            };
            segments.push(segment);
        }
        Some(RouteTemplate {
            text: text.into(),
            segments: segments.into(),
        })
    }

    /// Whether `path` (without the query) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut pieces = rest.split('/');
        let mut empty = rest.is_empty();
        for segment in self.segments.iter() {
            if let Segment::Rest = segment {
                return true;
            }
            if empty {
                return false;
            }
            let Some(piece) = pieces.next() else {
                return false;
            };
            match segment {
                Segment::Literal(text) if **text != *piece => return false,
                Segment::Param if piece.is_empty() => return false,
                _ => {}
            }
            empty = false;
        }
        empty || pieces.next().is_none()
    }
}

impl fmt::Debug for RouteTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> RouteTemplate {
        RouteTemplate::parse(text).unwrap()
    }

    #[test]
    fn literals_params_and_rest() {
        assert!(t("/health").matches("/health"));
        assert!(!t("/health").matches("/healthz"));
        assert!(!t("/health").matches("/health/deep"));
        assert!(t("/users/{id}").matches("/users/7"));
        assert!(!t("/users/{id}").matches("/users"));
        assert!(!t("/users/{id}").matches("/users/"));
        assert!(!t("/users/{id}").matches("/users/7/orders"));
        assert!(t("/static/{*path}").matches("/static/a/b.css"));
        assert!(t("/static/*").matches("/static/"));
        assert!(t("/").matches("/"));
        assert!(!t("/").matches("/x"));
        assert!(!t("/x").matches("/"));
        assert!(!t("/x").matches("x"));
    }

    #[test]
    fn rejects_malformed_templates() {
        for bad in ["health", "/a/{*rest}/b", "/a{b", "/{}", "/a/*/b"] {
            assert!(RouteTemplate::parse(bad).is_none(), "{bad}");
        }
    }
}
