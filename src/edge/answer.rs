//! Building the edge's own answers.

use std::any::Any;

use buttress_core::answer::{BodyFormat, Protocol, grpc_status_response};
use buttress_core::{BoxError, GrpcCode, Rejected};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use super::EdgeBody;

fn local<B>(response: Response<Bytes>) -> Response<EdgeBody<B>> {
    response.map(EdgeBody::local)
}

fn empty<B>(response: Response<()>) -> Response<EdgeBody<B>> {
    response.map(|()| EdgeBody::empty())
}

/// A response of the inner service, passed on — unless it is a refusal
/// the handler answered itself in plain text (`IntoResponse for
/// Rejected`, which cannot see the request) and the request asked for
/// JSON: then the same refusal, in JSON, as the edge would have answered.
pub(super) fn passed_on<B>(response: Response<B>, protocol: Protocol) -> Response<EdgeBody<B>> {
    if protocol == Protocol::Http(BodyFormat::Json)
        && let Some(rejected) = response.extensions().get::<Rejected>()
        && response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
    {
        return local(rejected.to_http_response(BodyFormat::Json));
    }
    response.map(|body| EdgeBody::inner(body, protocol == Protocol::Grpc))
}

/// The answer to an error from the inner service.
pub(super) fn error<B>(error: BoxError, protocol: Protocol) -> Response<EdgeBody<B>> {
    if let Some(rejected) = Rejected::find(&*error) {
        tracing::debug!(reason = %rejected.reason(), "request rejected");
        return match protocol {
            Protocol::Grpc => empty(rejected.to_grpc_response()),
            Protocol::Http(format) => local(rejected.to_http_response(format)),
        };
    }
    tracing::error!(error = %error, "inner service failed");
    internal(protocol)
}

/// The answer to a panic in the inner service.
pub(super) fn panic<B>(payload: &(dyn Any + Send), protocol: Protocol) -> Response<EdgeBody<B>> {
    log_panic(payload);
    internal(protocol)
}

/// Logs a panic in the inner service, when it is caught.
pub(super) fn log_panic(payload: &(dyn Any + Send)) {
    tracing::error!(panic = panic_message(payload), "inner service panicked");
}

/// The answer to an internal failure: a panic, or an inner service that
/// could not get ready.
pub(super) fn internal<B>(protocol: Protocol) -> Response<EdgeBody<B>> {
    match protocol {
        Protocol::Grpc => empty(grpc_status_response(GrpcCode::Internal, "internal error")),
        Protocol::Http(_) => {
            let mut response = Response::new(Bytes::from_static(b"internal server error\n"));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            local(response)
        }
    }
}

/// The text of a panic, when it has one.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
