//! (client) A caller's path and query, forwarded into a retried call.
//!
//! The default replay keeps a request's URI for a retry in its head
//! buffer and parses it back only when it retries. A handler that
//! forwards its caller's path and query (a gateway, a proxy route) hands
//! the retry whatever the caller sent: characters `http` accepts only for
//! compatibility (`"`, `{`, `}`, `|`, `^`), encoded slashes and dot
//! segments, bytes beyond ASCII, a long query. The retried attempt must
//! carry the very same URI, or the request is not retried at all; it
//! must never go to another path, or without its query.
//!
//! Real loopback sockets: the default client stack over hyper-util's
//! HTTP/1 client, against an axum dependency that answers 503 to each
//! path's first call and 200 after, recording the path and query every
//! call carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use buttress::retry::ReplayBody;
use buttress::stack::ClientStack;
use bytes::Bytes;
use http::{StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// What each call carried, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// A dependency answering 503 to the first call of each path and query,
/// 200 after.
async fn dependency(seen: Seen) -> String {
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let app = Router::new().fallback(move |uri: Uri| {
        let (seen, calls) = (seen.clone(), calls.clone());
        async move {
            let target = uri.path_and_query().map_or("", |pq| pq.as_str()).to_owned();
            seen.lock().unwrap().push(target.clone());
            let mut calls = calls.lock().unwrap();
            let count = calls.entry(target).or_default();
            *count += 1;
            if *count == 1 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
    });
    let addr = crate::support::serve_app(app).await;
    format!("http://{addr}")
}

/// Paths and queries a caller may send that `http` accepts.
fn hostile_targets() -> Vec<String> {
    vec![
        "/a%2Fb/..;x=1/./{id}/\"q\"/^?q=[1,2]&r=a|b^c&s={`}&t=%E2%9C%93".to_owned(),
        "/caf\u{e9}/\u{2713}?q=\u{e9}t\u{e9}&empty=&=&&".to_owned(),
        "//double//slashes/?".to_owned(),
        format!("/long?{}", "k=v&".repeat(2_048)),
    ]
}

#[tokio::test]
async fn a_forwarded_path_and_query_come_back_unchanged_in_the_retry() {
    let seen: Seen = Arc::default();
    let base = dependency(seen.clone()).await;
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let client = ClientStack::new("hostile-retried-uris")
        .build()
        .expect("defaults build")
        .layer(transport);

    for target in hostile_targets() {
        let uri: Uri = format!("{base}{target}")
            .parse()
            .unwrap_or_else(|e| panic!("http accepts {target:?}: {e}"));
        let sent = uri.path_and_query().expect("a path").as_str().to_owned();
        let request = http::Request::get(uri).body(Empty::new()).unwrap();
        let response = client.clone().oneshot(request).await.expect("an answer");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "the retry's answer for {sent:?}"
        );
        let calls: Vec<String> = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            calls,
            [sent.clone(), sent],
            "both attempts carried the same target"
        );
    }
}
