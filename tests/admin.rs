//! The admin router on its own loopback listener, beside a real axum
//! service: it lists the layers, streams a breaker's transitions in order
//! over server-sent events, and a reader that never reads costs the
//! server no more than the feed's fixed ring: a flood of 200,000 events
//! past a raw TCP reader that never reads grows the process's memory by
//! less than a stated bound (4 MiB), publishing never waits, and the
//! reader, once it reads again, is told what it missed and goes on.

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
use buttress::metrics::MetricsSink;
use support::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceBuilder;

async fn serve(app: Router) -> SocketAddr {
    support::serve_app(app).await
}

/// Asks for `/events` on `stream` and returns it once the answer's head
/// (and so the subscription) is there.
async fn open_events(mut stream: TcpStream) -> (TcpStream, String) {
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

/// The two tests of this binary run one at a time: the other one
/// measures the process's memory.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn the_admin_lists_layers_and_streams_a_breaker_cycle_in_order() {
    let _serial = SERIAL.lock().await;
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

    let (mut events, head) = open_events(TcpStream::connect(admin).await.unwrap()).await;
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

#[cfg(target_os = "linux")]
use buttress::metrics::EVENT_BUFFER;

/// Live anonymous memory of this process (`RssAnon`, the heap and the
/// runtime's stacks), in bytes. A counting `#[global_allocator]` would be
/// exact, but it needs `unsafe impl GlobalAlloc`, which the workspace's
/// `unsafe_code = "forbid"` refuses in tests too; resident anonymous
/// memory is what an unbounded queue would grow all the same.
#[cfg(target_os = "linux")]
fn live_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("an RssAnon line");
    kib * 1024
}

/// Events published in the flood: 100,000 closed → open → closed cycles.
#[cfg(target_os = "linux")]
const FLOOD: usize = 200_000;

/// Events published between two yields to the server: half the ring, so
/// a reader that kept up (or a queue that took everything) would lose
/// nothing.
#[cfg(target_os = "linux")]
const BATCH: usize = EVENT_BUFFER / 2;

/// What a reader that never reads may cost the process while the flood
/// goes by: the ring ([`EVENT_BUFFER`] = 256 events, each well under
/// 1 KiB: 256 KiB), hyper's write buffer for the connection (at most
/// about 400 KiB), and 3 MiB for the allocator's and the runtime's slack:
/// 4 MiB. Queueing the flood for the reader instead would hold 200,000
/// events of at least 100 bytes each: 19 MiB and more.
#[cfg(target_os = "linux")]
const BOUND: u64 = 4 << 20;

/// The ring is the only buffer between the breaker and a reader: a reader
/// that subscribes and then never reads (a raw TCP client with a 4 KiB
/// receive buffer) leaves the server's socket full, and from then on the
/// events go past it. The server is polled between batches (explicit
/// yields on this current-thread runtime, where it runs too), so an
/// implementation that queued each reader's events would queue them.
/// Serialised with the other test so that its memory does not count.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_reader_that_never_reads_costs_only_the_ring() {
    let _serial = SERIAL.lock().await;
    let sink = MetricsSink::new();
    let breaker = CircuitBreakerLayer::builder()
        .name("flapping")
        .sink(sink.clone())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let marker = CircuitBreakerLayer::builder()
        .name("marker")
        .sink(sink.clone())
        .build()
        .unwrap();
    let admin = serve(buttress::admin::router(sink.health().clone())).await;
    // The server, its routes and the event path warmed up once.
    let mut conn = Connection::open(admin).await;
    assert_eq!(conn.get("/layers/flapping", &[]).await.status, 200);
    let baseline = live_anon_bytes();

    // Subscribed, then never read again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let (mut stalled, _) = open_events(socket.connect(admin).await.unwrap()).await;

    let mut peak = baseline;
    let mut slowest_batch = Duration::ZERO;
    let flood = std::time::Instant::now();
    for batch in 0..FLOOD / BATCH {
        let started = std::time::Instant::now();
        for _ in 0..BATCH / 2 {
            handle.force_open();
            handle.close();
        }
        slowest_batch = slowest_batch.max(started.elapsed());
        // The server's turn: it writes what the socket takes, no more.
        tokio::task::yield_now().await;
        if batch % 64 == 0 {
            peak = peak.max(live_anon_bytes());
        }
    }
    let flooded = flood.elapsed();
    peak = peak.max(live_anon_bytes());
    let growth = peak.saturating_sub(baseline);
    println!(
        "a reader that never reads: {FLOOD} events in {flooded:?} (slowest batch of {BATCH}: \
         {slowest_batch:?}); live anonymous memory grew by at most {} KiB (bound {} KiB); \
         {} events held in the ring",
        growth >> 10,
        BOUND >> 10,
        sink.health().buffered_events(),
    );
    assert!(
        growth <= BOUND,
        "the process grew by {growth} bytes while a reader never read (bound {BOUND})"
    );
    // Publishing never waits for a reader: no batch took long.
    assert!(
        slowest_batch < Duration::from_secs(1),
        "a batch of {BATCH} events took {slowest_batch:?}"
    );
    // The stalled reader is a whole ring behind: the server stopped
    // taking its events when the socket filled, rather than moving them
    // somewhere else.
    assert_eq!(sink.health().buffered_events(), EVENT_BUFFER);

    // The admin still answers at once, and a new reader gets what
    // happens now.
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.get("/layers/flapping", &[]))
        .await
        .expect("the admin answers while a reader stalls");
    assert_eq!(answer.status, 200);
    let (mut fresh, head) = open_events(TcpStream::connect(admin).await.unwrap()).await;
    marker.handle().force_open();
    let data = read_events(&mut fresh, head, "transition", 1).await;
    assert!(data[0].contains(r#""name":"marker""#), "{data:?}");

    // The stalled reader reads again: past what its socket held, it is
    // told how much it missed, then gets the ring, the marker last.
    let (missed, skipped_bytes) = read_until_marker(&mut stalled).await;
    println!("the stalled reader, reading again: {skipped_bytes} bytes, then missed {missed}");
    assert!(
        missed > (FLOOD - 2 * EVENT_BUFFER) as u64 / 2,
        "it skipped most of the flood: {missed}"
    );
    drop((breaker, marker));
}

/// Reads an event stream until the `marker` breaker's transition,
/// without keeping what went before; the `missed` count it was told on
/// the way, and the bytes read.
#[cfg(target_os = "linux")]
async fn read_until_marker(stream: &mut TcpStream) -> (u64, usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut pending, mut missed, mut read) = (String::new(), 0u64, 0usize);
    loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no marker in 10 s ({read} bytes, missed {missed})"))
            .unwrap();
        assert!(n > 0, "the admin closed the stalled reader's stream");
        read += n;
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            if block.contains("event: missed\n") {
                let count = block.split("\"missed\":").nth(1).unwrap_or_default();
                missed += count
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("a count in {block:?}"));
            }
            if block.contains(r#""name":"marker""#) {
                assert!(missed > 0, "the marker came before any `missed`");
                return (missed, read);
            }
        }
    }
}

/// Each layer's report carries its running settings (`config`), read from
/// the layer when asked: a change through its handle shows at once, and
/// a dropped layer leaves the report (the sink holds its settings
/// reader weakly, so the layer is not kept alive by being described).
#[cfg(feature = "serde")]
#[tokio::test]
async fn a_layer_report_shows_its_running_config() {
    use buttress::breaker::BreakerConfig;
    use buttress::core::layer::Reconfigure;
    use tower::ServiceExt;

    let _serial = SERIAL.lock().await;
    let sink = MetricsSink::new();
    let breaker = CircuitBreakerLayer::builder()
        .name("described")
        .sink(sink.clone())
        .build()
        .unwrap();
    let admin = buttress::admin::router(sink.health().clone());
    let get = |admin: Router| async move {
        let request = http::Request::get("/layers/described")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = admin.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    };
    let (status, body) = get(admin.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""config":{"#), "{body}");
    assert!(body.contains(r#""failure_rate":50.0"#), "{body}");

    let handle = breaker.handle();
    handle
        .reconfigure(&BreakerConfig {
            failure_rate: 25.0,
            ..handle.config()
        })
        .unwrap();
    let (_, body) = get(admin.clone()).await;
    assert!(body.contains(r#""failure_rate":25.0"#), "{body}");

    drop((breaker, handle));
    let (status, _) = get(admin).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a dropped layer leaves the report"
    );
}
