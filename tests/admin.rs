//! The admin router on its own loopback listener, beside a real axum
//! service: it lists the layers, streams a breaker's transitions in order
//! over server-sent events, and a reader that never reads costs the
//! server no more than the feed's fixed ring.

#![cfg(all(feature = "admin", feature = "breaker"))]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use buttress::breaker::{CircuitBreakerLayer, State, WindowConfig};
use buttress::core::layer::LayerBuilder;
use buttress::edge::EdgeLayer;
use buttress::metrics::{EVENT_BUFFER, MetricsSink};
use support::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceBuilder;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Opens `/events` and returns the stream once the answer's head (and so
/// the subscription) is there.
async fn open_events(admin: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(admin).await.unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: admin\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the admin closed the event stream");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"), "{seen}");
    (stream, seen)
}

/// Reads until `count` events named `name` have arrived (or 10 s pass);
/// their `data` lines.
async fn read_events(
    stream: &mut TcpStream,
    mut seen: String,
    name: &str,
    count: usize,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    loop {
        let data: Vec<String> = seen
            .split("\n\n")
            .filter(|block| block.lines().any(|l| l == format!("event: {name}")))
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(str::to_owned)
            .collect();
        if data.len() >= count {
            return data;
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("only {} `{name}` events in 10 s: {seen}", data.len()))
            .unwrap();
        assert!(n > 0, "the admin closed the event stream");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test]
async fn the_admin_lists_layers_and_streams_a_breaker_cycle_in_order() {
    let sink = MetricsSink::new();
    let failing = Arc::new(AtomicBool::new(true));
    let breaker = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 2;
            c.wait = Duration::from_millis(100);
            c.permitted_probes = 1;
        })
        .name("orders")
        .sink(sink.clone())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let flag = failing.clone();
    let app = Router::new()
        .route(
            "/orders",
            get(move || {
                let failing = flag.load(Ordering::SeqCst);
                async move {
                    if failing {
                        (StatusCode::INTERNAL_SERVER_ERROR, "down")
                    } else {
                        (StatusCode::OK, "orders")
                    }
                }
            }),
        )
        .layer(ServiceBuilder::new().layer(EdgeLayer::new()).layer(breaker));
    let service = serve(app).await;
    let admin = serve(buttress::admin::router(sink.health().clone())).await;

    let mut admin_conn = Connection::open(admin).await;
    let layers = admin_conn.get("/layers", &[]).await;
    assert_eq!(layers.status, 200);
    let body = String::from_utf8_lossy(&layers.body).into_owned();
    assert!(
        body.contains(r#""kind":"breaker","name":"orders","state":"closed""#),
        "{body}"
    );
    assert_eq!(admin_conn.get("/layers/orders", &[]).await.status, 200);
    let missing = admin_conn.get("/layers/nobody", &[]).await;
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("no live layer"));

    let (mut events, head) = open_events(admin).await;
    let mut conn = Connection::open(service).await;
    for _ in 0..2 {
        assert_eq!(conn.get("/orders", &[]).await.status, 500);
    }
    assert_eq!(handle.state(), State::Open);
    assert_eq!(conn.get("/orders", &[]).await.status, 503);
    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(conn.get("/orders", &[]).await.status, 200);
    assert_eq!(handle.state(), State::Closed);

    let transitions = read_events(&mut events, head, "transition", 3).await;
    let pairs: Vec<(String, String)> = transitions
        .iter()
        .map(|data| {
            let field = |key: &str| {
                let start = data.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
                data[start..start + data[start..].find('"').unwrap()].to_owned()
            };
            assert!(
                data.contains(r#""kind":"breaker","name":"orders""#),
                "{data}"
            );
            (field("from"), field("to"))
        })
        .collect();
    let expected = [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn a_reader_that_never_reads_costs_only_the_ring() {
    let sink = MetricsSink::new();
    let breaker = CircuitBreakerLayer::builder()
        .name("flapping")
        .sink(sink.clone())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let admin = serve(buttress::admin::router(sink.health().clone())).await;
    // Subscribed, then never read again.
    let (_stalled, _) = open_events(admin).await;
    for _ in 0..20_000 {
        handle.force_open();
        handle.close();
    }
    let buffered = sink.health().buffered_events();
    assert!(
        buffered <= EVENT_BUFFER,
        "{buffered} events held for a reader that never reads"
    );
    // The admin still answers at once.
    let mut conn = Connection::open(admin).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.get("/layers/flapping", &[]))
        .await
        .expect("the admin answers while a reader stalls");
    assert_eq!(answer.status, 200);
    drop(breaker);
}
