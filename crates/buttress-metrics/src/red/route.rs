//! Where a request's route label comes from — never the raw URI.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use buttress_core::context::TrustRequest;

type Extract = dyn for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, str>> + Send + Sync;

/// How the RED layer labels a request's route. Whatever the source, at
/// most the configured number of distinct values are kept
/// ([`RedConfig::route_cap`](super::RedConfig::route_cap)), each at most
/// [`max_route_len`](super::RedConfig::max_route_len) bytes and all
/// together at most [`route_bytes`](super::RedConfig::route_bytes); the
/// rest are counted under `_OTHER`. A cap of zero labels every request
/// `_OTHER`.
///
/// A route the router vouches for (axum's `MatchedPath`, one of the app's
/// own templates) is labelled at once. A route read from the request
/// itself — a gRPC path, a custom function's value — is the client's to
/// choose, so it earns a label only once it has been answered with
/// something other than a 404, the gRPC `UNIMPLEMENTED` status or a
/// rejection: a scan of unknown paths takes no label.
#[derive(Clone, Default)]
pub enum RouteSource {
    /// axum's `MatchedPath` (feature `axum`), else for a gRPC request
    /// whose path is a method path (`/package.Service/Method`, letters,
    /// digits and `_` in dot-separated names) the method as OpenTelemetry
    /// writes `rpc.method`, `package.Service/Method`, else `_OTHER`.
    #[default]
    Auto,
    /// A function of the request (a header set by the router, a prefix of
    /// the path, …).
    Custom(Arc<Extract>),
}

/// A request's route, before the layer decides whether it gets a label.
pub(super) struct Route<'a> {
    pub(super) name: Cow<'a, str>,
    /// The router vouches for it (a template of the app): no need to
    /// wait for an answer proving the route exists.
    pub(super) vouched: bool,
}

/// Whether `path` is a gRPC method path: `/` service `/` method, the
/// service one or more dot-separated names, each name made of ASCII
/// letters, digits and `_` (protobuf's identifier characters).
pub(super) fn is_grpc_method_path(path: &str) -> bool {
    fn name(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    service.split('.').all(name) && name(method)
}

impl RouteSource {
    /// A route from a function of the request.
    ///
    /// ```
    /// use buttress_metrics::RouteSource;
    /// use std::borrow::Cow;
    ///
    /// // Label by API version only.
    /// let source = RouteSource::custom(|req| {
    ///     let path = req.uri.path();
    ///     path.split('/').nth(1).map(Cow::Borrowed)
    /// });
    /// # let _ = source;
    /// ```
    pub fn custom<F>(extract: F) -> Self
    where
        F: for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, str>> + Send + Sync + 'static,
    {
        RouteSource::Custom(Arc::new(extract))
    }

    /// The request's route, if it has one of at most `max_len` bytes.
    pub(super) fn route<'a>(
        &self,
        request: &TrustRequest<'a>,
        max_len: usize,
        grpc: bool,
    ) -> Option<Route<'a>> {
        match self {
            RouteSource::Custom(extract) => extract(request)
                .filter(|name| name.len() <= max_len)
                .map(|name| Route {
                    name,
                    vouched: false,
                }),
            RouteSource::Auto => {
                #[cfg(feature = "axum")]
                if let Some(matched) = request.extensions.get::<axum::extract::MatchedPath>() {
                    return (matched.as_str().len() <= max_len).then(|| Route {
                        name: Cow::Borrowed(matched.as_str()),
                        vouched: true,
                    });
                }
                let path = request.uri.path();
                // Only a gRPC request's path is scanned (the caller has
                // read its content type already), and not a long one.
                (grpc && path.len() <= max_len && is_grpc_method_path(path)).then(|| Route {
                    // Without the leading `/`: `rpc.method`'s form.
                    name: Cow::Borrowed(&path[1..]),
                    vouched: false,
                })
            }
        }
    }
}

impl fmt::Debug for RouteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteSource::Auto => f.write_str("RouteSource::Auto"),
            RouteSource::Custom(_) => f.write_str("RouteSource::Custom"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_grpc_method_path;

    #[test]
    fn grpc_method_paths_follow_the_grammar() {
        for ok in [
            "/pkg.Service/Method",
            "/Service/Method",
            "/google.cloud.v1beta1.Predictor/Stream_Generate2",
        ] {
            assert!(is_grpc_method_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/",
            "pkg.Service/Method",
            "/pkg.Service",
            "/pkg.Service/",
            "//Method",
            "/pkg..Service/Method",
            "/.Service/Method",
            "/pkg.Service/Method/extra",
            "/pkg.Service/Me%74hod",
            "/pkg-x.Service/Method",
            "/pkg.Service/Méthode",
        ] {
            assert!(!is_grpc_method_path(bad), "{bad:?}");
        }
    }
}
