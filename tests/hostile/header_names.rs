//! (client) A header name only HTTP/2 allows, forwarded into a retried
//! call.
//!
//! Reproduced against an earlier Buttress (found in review): h2's decoder
//! builds names with `HeaderName::from_lowercase`, which takes a `"`
//! that `HeaderName::from_bytes` refuses. A handler that forwards its
//! caller's headers through the default client stack hands such a name
//! to the retry; the retry's copy of the headers parsed it back with
//! `from_bytes`, and the retry after a 503 panicked.
//!
//! Now the copy parses names as h2 does. Real loopback sockets: the
//! default client stack over hyper-util's HTTP/2 client (prior
//! knowledge), against an axum dependency that answers 503 once and then
//! 200, recording the header each call carried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use buttress::retry::ReplayBody;
use buttress::stack::ClientStack;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// The name a caller sent over HTTP/2, as h2's decoder builds it.
fn quoted_name() -> HeaderName {
    HeaderName::from_lowercase(b"x-\"quoted\"").expect("h2 takes this name")
}

/// A dependency that answers 503 to its first call and 200 after,
/// recording the quoted header's value on every call.
async fn dependency(seen: Arc<Mutex<Vec<Option<String>>>>) -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let (seen, calls) = (seen.clone(), calls.clone());
            async move {
                let value = headers
                    .get(quoted_name())
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push(value);
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let addr = crate::support::serve_app(app).await;
    format!("http://{addr}/")
}

#[tokio::test]
async fn a_name_only_http2_allows_survives_a_retry() {
    // `from_bytes`, the parser the copy used, refuses the name.
    assert!(HeaderName::from_bytes(quoted_name().as_str().as_bytes()).is_err());

    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = dependency(seen.clone()).await;
    let transport = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<ReplayBody<Empty<Bytes>>>();
    let client = ClientStack::new("hostile-header-names")
        .build()
        .expect("defaults build")
        .layer(transport);

    let mut request = http::Request::get(&url).body(Empty::new()).unwrap();
    request
        .headers_mut()
        .insert(quoted_name(), HeaderValue::from_static("forwarded"));
    let response = client.oneshot(request).await.expect("an answer");

    assert_eq!(response.status(), StatusCode::OK, "the retry's answer");
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("forwarded".to_owned()), Some("forwarded".to_owned())],
        "both attempts carried the header"
    );
}
