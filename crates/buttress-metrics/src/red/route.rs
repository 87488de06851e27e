//! Where a request's route label comes from — never the raw URI.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use buttress_core::context::TrustRequest;
use buttress_core::grpc::is_grpc;

type Extract = dyn for<'a> Fn(&TrustRequest<'a>) -> Option<Cow<'a, str>> + Send + Sync;

/// How the RED layer labels a request's route. Whatever the source, at
/// most the configured number of distinct values are kept
/// ([`RedConfig::route_cap`](super::RedConfig::route_cap)); the rest are
/// counted under `_OTHER`. A cap of zero labels every request `_OTHER`.
#[derive(Clone, Default)]
pub enum RouteSource {
    /// axum's `MatchedPath` (feature `axum`), else the path of a gRPC
    /// request (`/pkg.Service/Method`), else `_OTHER`.
    #[default]
    Auto,
    /// A function of the request (a header set by the router, a prefix of
    /// the path, …).
    Custom(Arc<Extract>),
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

    pub(super) fn route<'a>(&self, request: &TrustRequest<'a>) -> Option<Cow<'a, str>> {
        match self {
            RouteSource::Custom(extract) => extract(request),
            RouteSource::Auto => {
                #[cfg(feature = "axum")]
                if let Some(matched) = request.extensions.get::<axum::extract::MatchedPath>() {
                    return Some(Cow::Borrowed(matched.as_str()));
                }
                is_grpc(request.headers).then(|| Cow::Borrowed(request.uri.path()))
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
