//! [`RequestContext`] as an axum extractor (feature `axum`).
//!
//! A server stack keeps the request's context current while the handler
//! runs rather than copying it into the request's extensions, so the
//! handler takes it as an argument — `ctx: RequestContext`, or
//! `Option<RequestContext>` where a handler may run without a context
//! layer — instead of `Extension<RequestContext>`.

use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::RequestContext;

/// The extraction of a [`RequestContext`] failed: the handler runs outside
/// any context layer (no server stack wraps the router), and the request
/// was not built with one. Answers `500`: the service is assembled wrong,
/// the caller did nothing wrong.
///
/// ```
/// use axum_core::response::IntoResponse;
/// use buttress_core::context::NoRequestContext;
///
/// assert_eq!(NoRequestContext.into_response().status(), 500);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoRequestContext;

impl fmt::Display for NoRequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no request context: the handler runs outside a server context layer")
    }
}

impl std::error::Error for NoRequestContext {}

impl IntoResponse for NoRequestContext {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

/// The request's context, as every layer finds it
/// ([`RequestContext::with_request`]): the one the request was built
/// with, else the current one.
fn found(parts: &Parts) -> Option<RequestContext> {
    RequestContext::from_extensions(&parts.extensions)
        .cloned()
        .or_else(RequestContext::current)
}

/// `ctx: RequestContext` in a handler's arguments.
///
/// ```
/// use axum::{Router, routing::get};
/// use buttress_core::RequestContext;
/// use buttress_core::context::CorrelationId;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// async fn handler(ctx: RequestContext) -> String {
///     ctx.correlation_id().map(ToString::to_string).unwrap_or_default()
/// }
/// // What a server stack's context layer does for each request.
/// let app = Router::new().route("/", get(handler));
/// let ctx = RequestContext::starting_now()
///     .with_correlation_id(CorrelationId::parse(b"abc-123").unwrap());
/// let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
/// let response = ctx.scope(app.oneshot(request)).await.unwrap();
/// let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
/// assert_eq!(body, "abc-123");
/// # }
/// ```
impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = NoRequestContext;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, NoRequestContext> {
        found(parts).ok_or(NoRequestContext)
    }
}

/// `ctx: Option<RequestContext>`: `None` outside any context layer.
impl<S: Send + Sync> OptionalFromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Option<Self>, std::convert::Infallible> {
        Ok(found(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        http::Request::new(()).into_parts().0
    }

    async fn required(parts: &mut Parts) -> Result<RequestContext, NoRequestContext> {
        <RequestContext as FromRequestParts<()>>::from_request_parts(parts, &()).await
    }

    async fn optional(parts: &mut Parts) -> Option<RequestContext> {
        let found =
            <RequestContext as OptionalFromRequestParts<()>>::from_request_parts(parts, &()).await;
        found.unwrap_or_else(|never| match never {})
    }

    #[tokio::test(start_paused = true)]
    async fn the_current_context_is_extracted_and_none_outside_any() {
        let ctx = RequestContext::starting_now();
        let start = ctx.start();
        let inside = ctx
            .scope(async {
                let mut parts = parts();
                (
                    required(&mut parts).await.map(|c| c.start()),
                    optional(&mut parts).await.map(|c| c.start()),
                )
            })
            .await;
        assert_eq!(inside, (Ok(start), Some(start)));

        let mut parts = parts();
        assert_eq!(
            required(&mut parts).await.map(|c| c.start()),
            Err(NoRequestContext)
        );
        assert!(optional(&mut parts).await.is_none());
        assert_eq!(
            NoRequestContext.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_context_the_request_was_built_with_comes_first() {
        let built =
            RequestContext::new(tokio::time::Instant::now() - std::time::Duration::from_secs(1));
        let built_start = built.start();
        let seen = RequestContext::starting_now()
            .scope(async move {
                let mut parts = parts();
                parts.extensions.insert(built);
                required(&mut parts).await.map(|c| c.start())
            })
            .await;
        assert_eq!(seen, Ok(built_start));
    }
}
