//! The metrics example's `/metrics`, fetched by a real HTTP client over
//! 127.0.0.1, parses as Prometheus text under a strict check and carries
//! the request-duration histogram with its buckets.

#![cfg(all(feature = "stack", feature = "serve"))]

#[path = "../examples/metrics_server.rs"]
#[allow(dead_code)]
mod example;
mod support;

use support::Connection;
use support::prometheus::parse;

#[tokio::test]
async fn metrics_endpoint_serves_strict_prometheus_text() {
    let (prometheus, health) = example::install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, example::app(prometheus, health))
            .await
            .unwrap()
    });

    let mut conn = Connection::open(addr).await;
    for id in 0..50 {
        assert_eq!(conn.get(&format!("/orders/{id}"), &[]).await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(conn.get("/reports", &[]).await.status, 200);
    }
    assert_eq!(conn.get("/health/live", &[]).await.status, 200);
    assert_eq!(conn.get("/health/ready", &[]).await.status, 200);
    let report = conn.get("/health/report", &[]).await;
    assert!(
        std::str::from_utf8(&report.body)
            .unwrap()
            .contains("\"name\":\"api\"")
    );

    let answer = conn.get("/metrics", &[]).await;
    assert_eq!(answer.status, 200);
    let text = std::str::from_utf8(&answer.body).expect("utf-8");
    let exposition = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let family = "http_server_request_duration_seconds";
    assert_eq!(
        exposition.types.get(family).map(String::as_str),
        Some("histogram"),
        "{text}"
    );
    let buckets = exposition.family(&format!("{family}_bucket"));
    let les: std::collections::BTreeSet<&str> =
        buckets.iter().map(|s| s.labels["le"].as_str()).collect();
    assert!(les.contains("0.001") && les.contains("+Inf"), "{les:?}");
    let routes: std::collections::BTreeSet<&str> = buckets
        .iter()
        .map(|s| s.labels["http_route"].as_str())
        .collect();
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        vec!["/orders/{id}", "/reports"]
    );
    let orders: f64 = exposition
        .family(&format!("{family}_count"))
        .iter()
        .filter(|s| s.labels["http_route"] == "/orders/{id}")
        .map(|s| s.value)
        .sum();
    assert_eq!(orders, 50.0);
    assert_eq!(
        exposition
            .types
            .get("buttress_http_server_requests_total")
            .map(String::as_str),
        Some("counter")
    );
    assert!(
        exposition.types.contains_key("buttress_admitted_total"),
        "the bulkhead reports through the sink"
    );
}

#[test]
fn the_strict_reader_refuses_what_the_format_forbids() {
    assert!(parse("# TYPE a counter\na 1\n").is_ok());
    assert!(parse("a 1\n").is_err(), "undeclared");
    assert!(parse("# TYPE a counter\na 1").is_err(), "no final newline");
    assert!(
        parse("# TYPE a counter\na{b=\"c\\x\"} 1\n").is_err(),
        "bad escape"
    );
    assert!(
        parse("# TYPE a counter\na{1b=\"c\"} 1\n").is_err(),
        "bad label name"
    );
    assert!(parse("# TYPE a counter\na one\n").is_err(), "bad value");
    assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n").is_err());
    assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n").is_ok());
}
