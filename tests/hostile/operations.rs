//! (13) Operations surfaces under attack: the admin event stream, config
//! reloads. Many readers of `/events` that never read hold the feed's
//! fixed ring and nothing more, and the admin router keeps answering; a
//! flood of lookups of layers that do not exist grows nothing; a config
//! file that is absurd, garbage, huge or gone changes nothing and says
//! why, with the field path where there is a field.

use std::time::Duration;

use buttress::breaker::CircuitBreakerLayer;
use buttress::config::{Reloader, ServiceConfig};
use buttress::core::layer::LayerBuilder;
use buttress::metrics::{EVENT_BUFFER, MetricsSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::support::Connection;
use crate::support::scratch::Scratch;

#[tokio::test]
async fn two_hundred_stalled_event_readers_hold_only_the_ring() {
    let sink = MetricsSink::new();
    let breaker = CircuitBreakerLayer::builder()
        .name("flapping")
        .sink(sink.clone())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let router = buttress::admin::router(sink.health().clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(admin).await.unwrap();
        stream
            .write_all(b"GET /events HTTP/1.1\r\nhost: admin\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        stalled.push(stream); // subscribed, never read again
    }
    for _ in 0..50_000 {
        handle.force_open();
        handle.close();
    }
    let buffered = sink.health().buffered_events();
    assert!(buffered <= EVENT_BUFFER, "{buffered} events held");
    println!(
        "200 stalled readers, 100,000 transitions: {buffered} events held (ring {EVENT_BUFFER})"
    );

    let mut conn = Connection::open(admin).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.get("/layers", &[]))
        .await
        .expect("the admin answers while 200 readers stall");
    assert_eq!(answer.status, 200);
    // Lookups of names that do not exist: answered, nothing kept.
    let router = buttress::admin::router(sink.health().clone());
    for i in 0..10_000 {
        let request = http::Request::get(format!("/layers/nobody-{i}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 404);
    }
    assert!(sink.health().layer_json("nobody-1").is_none());
    drop((stalled, breaker));
}

/// The test's `service.toml` path, in a scratch directory that goes when
/// the first half of the pair is dropped.
fn temp_file(test: &str) -> (Scratch, std::path::PathBuf) {
    let scratch = Scratch::new(&format!("hostile-{test}"));
    let path = scratch.path("service.toml");
    (scratch, path)
}

#[tokio::test]
async fn absurd_garbage_huge_or_missing_files_change_nothing() {
    let (_scratch, path) = temp_file("reload");
    let good = "[server.bulkhead]\nmax_concurrent = 10\n\n[clients.dep.breaker]\nwait = \"5s\"\n";
    std::fs::write(&path, good).unwrap();
    let config = ServiceConfig::from_path(&path).unwrap();
    let server = config.build_server().unwrap();
    let client = config.build_client("dep").unwrap();
    let reloader = Reloader::new(&path).server(&server).client("dep", &client);

    let huge = format!("[server]\n{}", "# padding\n".repeat(1_000_000));
    let attacks: Vec<(String, Option<&str>)> = vec![
        (
            "[server.bulkhead]\nmax_concurrent = 0\n".into(),
            Some("server.bulkhead.max_concurrent"),
        ),
        (
            good.replace("wait = \"5s\"", "wait = \"300000000000y\""),
            Some("clients.dep.breaker.wait"),
        ),
        (
            good.replace("max_concurrent = 10", "max_concurrent = -1"),
            Some("server.bulkhead.max_concurrent"),
        ),
        ("\u{0}\u{1}garbage = = [".into(), None),
        (huge, None),
        // A running dependency cannot vanish.
        (
            "[server.bulkhead]\nmax_concurrent = 10\n".into(),
            Some("clients.dep"),
        ),
    ];
    for (i, (text, field)) in attacks.iter().enumerate() {
        std::fs::write(&path, text).unwrap();
        let error = reloader.reload().unwrap_err();
        if let Some(field) = field {
            assert_eq!(error.field(), *field, "attack {i}: {error}");
        }
        assert_eq!(
            server.bulkhead().unwrap().max_concurrent(),
            10,
            "attack {i}"
        );
        assert_eq!(
            client.config().breaker.settings().unwrap().wait,
            Duration::from_secs(5),
            "attack {i}"
        );
    }
    std::fs::remove_file(&path).unwrap();
    let error = reloader.reload().unwrap_err();
    assert!(error.problem().contains("cannot be read"), "{error}");
    assert_eq!(reloader.status().failed, attacks.len() as u64 + 1);
    assert_eq!(reloader.status().applied, 0);
    assert_eq!(server.bulkhead().unwrap().max_concurrent(), 10);
}
