//! The answers the benched handlers give, and how the tower baselines
//! turn their layers' errors into answers (what axum's `HandleErrorLayer`
//! does for a user), so every configuration serves the same body type.

use std::fmt;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use tower::BoxError;

/// The body every handler here answers with.
pub(crate) type Body = Full<Bytes>;

/// 200 "ok".
pub(crate) fn ok() -> Response<Body> {
    Response::new(Full::new(Bytes::from_static(b"ok")))
}

/// tower's `LoadShed` refusal becomes 503, its `Timeout` 504, anything else
/// 500: the edge layer's mapping, done by hand.
pub(crate) fn from_tower_error(
    result: Result<Response<Body>, BoxError>,
) -> Result<Response<Body>, NotReady> {
    Ok(result.unwrap_or_else(|error| {
        let status = if error.is::<tower::load_shed::error::Overloaded>() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if error.is::<tower::timeout::error::Elapsed>() {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        response
    }))
}

/// The error `tower::ServiceExt::map_result` still needs for readiness
/// errors, which it passes through rather than answering. The tower
/// stacks here never fail to become ready (their innermost service is
/// always ready), so hyper never sees one.
#[derive(Debug)]
pub(crate) struct NotReady(BoxError);

impl From<BoxError> for NotReady {
    fn from(error: BoxError) -> Self {
        NotReady(error)
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the service failed to become ready: {}", self.0)
    }
}

impl std::error::Error for NotReady {}
