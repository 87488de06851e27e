//! The naive client: a plain hyper client, a fixed timeout per call, and
//! immediate retries on errors, timeouts and 5xx — no budget, no backoff,
//! no breaker.

use std::time::Duration;

use buttress::BoxError;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::services::{Body, Downstream};

/// A downstream service calling through `client` with the naive policy.
pub fn client(
    http: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
    attempts: u32,
) -> Downstream {
    let service = tower::service_fn(move |request: http::Request<Empty<Bytes>>| {
        let http = http.clone();
        async move {
            let mut last: Option<Result<http::Response<Body>, BoxError>> = None;
            for _ in 0..attempts {
                let attempt = http::Request::builder()
                    .method(request.method())
                    .uri(request.uri().clone())
                    .body(Empty::new())
                    .expect("a copy of a valid request");
                match tokio::time::timeout(timeout, http.request(attempt)).await {
                    Ok(Ok(response)) if !response.status().is_server_error() => {
                        return Ok(response.map(|body| body.map_err(BoxError::from).boxed()));
                    }
                    Ok(Ok(response)) => {
                        let (parts, body) = response.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let body = http_body_util::Full::new(bytes)
                            .map_err(BoxError::from)
                            .boxed();
                        last = Some(Ok(http::Response::from_parts(parts, body)));
                    }
                    Ok(Err(error)) => last = Some(Err(error.into())),
                    Err(_) => last = Some(Err("timed out".into())),
                }
            }
            last.expect("at least one attempt")
        }
    });
    Downstream::new(service)
}
