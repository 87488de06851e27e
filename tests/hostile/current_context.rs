//! (server) A caller's own ID and deadline, and many requests interleaved
//! on the server's threads, against the request context a handler sees.
//!
//! The server stack keeps no copy of the context in the request's
//! extensions: while a request's future is polled, the thread's current
//! context points into that future, and a handler takes it as an argument
//! (`ctx: RequestContext`). Two things could go wrong, and a caller could
//! provoke both: a handler could see another request's context when
//! requests interleave on one thread or move between threads at their
//! await points, or a public-edge handler could see the ID or deadline
//! the caller sent. Real sockets: the default `ServerStack` (its
//! admission layers off, so that no request is shed) over axum on
//! 127.0.0.1, hyper-util's HTTP/1 client, 200 concurrent requests each
//! sending its own `x-request-id` and `x-request-timeout-ms`, each handler
//! yielding and sleeping between reads of its context.

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use buttress::RequestContext;
use buttress::stack::{ServerStack, Toggle};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Answers `id deadline-ms`: what the handler's argument holds, checked
/// against the current context after every await point.
async fn handler(ctx: RequestContext) -> String {
    let id = ctx.correlation_id().expect("an ID").as_str().to_owned();
    for round in 0..4u64 {
        if round % 2 == 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1 + round)).await;
        }
        let current = RequestContext::current().expect("the context stays current");
        assert_eq!(
            current.correlation_id().map(|id| id.as_str()),
            Some(id.as_str()),
            "another request's context after an await point"
        );
    }
    let remaining = ctx
        .remaining(tokio::time::Instant::now())
        .map_or(u128::MAX, |left| left.as_millis());
    format!("{id} {remaining}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handler_sees_its_own_context_and_never_the_callers_claims() {
    // The default stack but for its admission layers: 200 requests at
    // once, each sleeping, on a loaded CI machine are rightly shed by the
    // load shedder and the adaptive limit (503s), which is not what this
    // test is about; every layer that reads the context stays.
    let stack = ServerStack::new("current")
        .shed(Toggle::Off)
        .adaptive_limit(Toggle::Off)
        .build()
        .expect("the stack builds");
    let app = Router::new().route("/", get(handler)).layer(stack);
    let addr = crate::support::serve_app(app).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();

    let calls = (0..200).map(|i| {
        let client = client.clone();
        async move {
            let request = http::Request::get(format!("http://{addr}/"))
                .header("x-request-id", format!("attacker-{i}"))
                // Far beyond the server's own 10 s timeout, and tiny:
                // neither may reach the handler at a public edge.
                .header(
                    "x-request-timeout-ms",
                    if i % 2 == 0 { "86400000" } else { "1" },
                )
                .body(Body::empty())
                .unwrap();
            let response = client.request(request).await.expect("an answer");
            assert_eq!(response.status(), 200);
            let echoed = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8(body.to_vec()).unwrap();
            let (seen, remaining) = body.split_once(' ').unwrap();
            (echoed, seen.to_owned(), remaining.parse::<u128>().unwrap())
        }
    });
    let answers = futures_util::future::join_all(calls).await;

    let mut ids = HashSet::new();
    for (echoed, seen, remaining) in answers {
        // The handler saw the context its own response echoes.
        assert_eq!(echoed, seen);
        // A fresh ID, not the caller's.
        assert!(
            !seen.starts_with("attacker-"),
            "the caller set the ID: {seen}"
        );
        assert!(ids.insert(seen), "two requests shared an ID");
        // The server's own deadline (its 10 s timeout), not the caller's.
        assert!(
            (5_000..=10_000).contains(&remaining),
            "the handler's deadline came from the caller: {remaining} ms left"
        );
    }
    assert_eq!(ids.len(), 200);
}
