//! (11) Slow connections. `axum::serve` runs no header-read timer: 8,000
//! connections sending partial headers were held for 54 s (+128 MB), and
//! near the descriptor limit `/health/live` timed out for ≥ 16 s;
//! hyper-util's builders have no connection cap and its auto builder runs
//! no timer while it tells HTTP/1 from HTTP/2 (hyper issue 3962).
//!
//! Now `buttress::serve::Server` closes a connection whose request head
//! (or first bytes) has not arrived within `header_read_timeout` —
//! trickling a byte at a time does not restart the timer — and serves at
//! most `max_connections` at once. Here a child process (its own
//! descriptor budget) opens 500 connections — part of an HTTP/1 request
//! head then a header byte every 100 ms, HTTP/2's preface a byte at a
//! time, or silence — while the server runs a 300 ms timeout and a cap of
//! 256. Every attacking connection is
//! closed within a few waves of the timeout, never more than 256 are open
//! at once, and `/health/live` keeps answering throughout.

#![cfg(feature = "serve")]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use buttress::serve::{ServeConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Set in the child process: `addr,connections,give_up_ms,max_open`.
const ATTACKER_ENV: &str = "BUTTRESS_HOSTILE_SLOW_ATTACKER";
/// How the child reports, one line on stdout.
const REPORT: &str = "SLOW-ATTACK";
const CONNECTIONS: usize = 500;
const CAP: usize = 256;
/// The attacker keeps at most this many open: the cap and 64 more waiting
/// in the listen backlog.
const MAX_OPEN: usize = CAP + 64;
const TIMEOUT: Duration = Duration::from_millis(300);
/// How long the child keeps a connection it has not seen closed.
const GIVE_UP: Duration = Duration::from_secs(8);
/// The head an HTTP/1 slowloris starts with.
const PARTIAL_HEAD: &[u8] = b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: ";
/// HTTP/2's preface: a client trickling it keeps the server detecting.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The attacker, run only in the child process (a no-op in the suite).
#[test]
fn attacker() {
    let Ok(spec) = std::env::var(ATTACKER_ENV) else {
        return;
    };
    let mut spec = spec.split(',');
    let addr: SocketAddr = spec
        .next()
        .and_then(|a| a.parse().ok())
        .expect("an address");
    let count: usize = spec.next().and_then(|c| c.parse().ok()).expect("a count");
    let give_up = spec
        .next()
        .and_then(|g| g.parse().ok())
        .expect("give_up_ms");
    let give_up = Duration::from_millis(give_up);
    let max_open: usize = spec.next().and_then(|m| m.parse().ok()).expect("max_open");
    // Connect one at a time, with at most `max_open` open: a burst of
    // SYNs past the listen backlog would leave some silent clients
    // believing they are connected to a server that never saw them.
    let open = Arc::new(tokio::sync::Semaphore::new(max_open));
    let connecting = Arc::new(tokio::sync::Mutex::new(()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let held = runtime.block_on(async move {
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let (open, connecting) = (open.clone(), connecting.clone());
                tokio::spawn(async move {
                    let _open = open.acquire_owned().await.expect("open");
                    slow_client(addr, i % 3, give_up, &connecting).await
                })
            })
            .collect();
        let mut held = Vec::with_capacity(count);
        for task in tasks {
            held.push(task.await.expect("no panic"));
        }
        held
    });
    let connected = held.iter().filter(|h| h.is_some()).count();
    let mut closed: Vec<u128> = held
        .iter()
        .flatten()
        .filter_map(|h| h.map(|d| d.as_millis()))
        .collect();
    closed.sort_unstable();
    // Still open at `give_up`, by kind.
    let open: Vec<usize> = (0..3)
        .map(|kind| {
            held.iter()
                .skip(kind)
                .step_by(3)
                .filter(|h| matches!(h, Some(None)))
                .count()
        })
        .collect();
    println!(
        "{REPORT} connected={connected} closed={} open_by_kind={open:?} min_ms={} max_ms={}",
        closed.len(),
        closed.first().copied().unwrap_or(0),
        closed.last().copied().unwrap_or(0),
    );
}

/// One slow connection, of three kinds: `0`, part of an HTTP/1 request
/// head, then a header byte every 100 ms; `1`, HTTP/2's preface a byte
/// every 100 ms after its first 16 (the server is still telling HTTP/1
/// from HTTP/2); `2`, silence. `None`: could not connect; `Some(None)`:
/// still open at `give_up`; `Some(Some(held))`: the server closed it after
/// `held`.
async fn slow_client(
    addr: SocketAddr,
    kind: usize,
    give_up: Duration,
    connecting: &tokio::sync::Mutex<()>,
) -> Option<Option<Duration>> {
    let serial = connecting.lock().await;
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.ok()?;
    drop(serial);
    let closed = |start: Instant| Some(Some(start.elapsed()));
    let (first, mut trickle): (&[u8], Box<dyn Iterator<Item = u8> + Send>) = match kind {
        0 => (PARTIAL_HEAD, Box::new(std::iter::repeat(b'a'))),
        1 => (
            &H2_PREFACE[..16],
            Box::new(H2_PREFACE[16..].iter().copied()),
        ),
        _ => (b"", Box::new(std::iter::empty())),
    };
    if stream.write_all(first).await.is_err() {
        return closed(start);
    }
    let mut buf = [0u8; 1024];
    while start.elapsed() < give_up {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return closed(start),
                Ok(_) => {} // an error response before the close
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(byte) = trickle.next()
                    && stream.write_all(&[byte]).await.is_err()
                {
                    return closed(start);
                }
            }
        }
    }
    Some(None)
}

/// One `GET /health/live` on a fresh connection: its status and latency.
async fn probe(addr: SocketAddr) -> (u16, Duration) {
    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let status = std::str::from_utf8(response.get(9..12)?)
            .ok()?
            .parse()
            .ok()?;
        Some(status)
    })
    .await;
    (answer.ok().flatten().unwrap_or(0), start.elapsed())
}

/// Runs the attacker in a child process (this test binary, re-executed)
/// and returns its report line.
fn attack(addr: SocketAddr, connections: usize, give_up: Duration, max_open: usize) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "slow_connections::attacker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            ATTACKER_ENV,
            format!("{addr},{connections},{},{max_open}", give_up.as_millis()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .expect("the attacker runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| Some(l.split_once(REPORT)?.1.trim().to_owned()))
        .unwrap_or_else(|| panic!("no report from the attacker: {stdout}"))
}

/// A number from the attacker's report.
fn field(report: &str, name: &str) -> u128 {
    report
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

/// The attack, reproduced: `axum::serve` holds every slow connection for
/// as long as the client likes (here, until the attacker gives up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_holds_slow_connections_with_no_timer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/health/live", get(|| async { "live" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let report =
        tokio::task::spawn_blocking(move || attack(addr, 30, Duration::from_millis(1500), 30))
            .await
            .unwrap();
    assert_eq!(field(&report, "connected"), 30, "{report}");
    assert_eq!(
        field(&report, "closed"),
        0,
        "axum::serve closed none of them: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_closed_after_the_timeout_while_health_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(ServeConfig {
        header_read_timeout: TIMEOUT,
        max_connections: CAP,
        ..ServeConfig::default()
    })
    .unwrap();
    let handle = server.handle();
    assert_eq!(handle.max_connections(), CAP);
    let app = Router::new().route("/health/live", get(|| async { "live" }));
    tokio::spawn(server.serve(listener, app));

    // The peak of open connections, sampled every millisecond.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = tokio::spawn({
        let (done, peak, handle) = (done.clone(), peak.clone(), handle.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(handle.connections(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    let attack = tokio::task::spawn_blocking(move || attack(addr, CONNECTIONS, GIVE_UP, MAX_OPEN));

    // Health, probed on fresh connections while the attack runs.
    let mut probes = Vec::new();
    while !attack.is_finished() {
        probes.push(probe(addr).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = attack.await.unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let field = |name: &str| field(&report, name);
    let worst_probe = probes.iter().map(|(_, t)| *t).max().unwrap_or_default();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!(
        "slow connections: {report}; peak open {peak}/{CAP}; {} health probes, worst {worst_probe:?}",
        probes.len()
    );

    assert_eq!(field("connected"), CONNECTIONS as u128, "{report}");
    assert_eq!(
        field("closed"),
        CONNECTIONS as u128,
        "every partial-header connection is closed: {report}"
    );
    assert!(
        field("min_ms") >= TIMEOUT.as_millis() * 8 / 10,
        "closed by the timer, not refused: {report}"
    );
    // 500 connections through 256 slots: two waves of the timeout, with
    // generous room for a loaded CI machine.
    assert!(
        field("max_ms") <= 4_000,
        "the last one closed within a few timeouts: {report}"
    );
    assert!(peak <= CAP, "at most the cap open at once: {peak}");
    assert!(peak >= CAP / 2, "the attack reached the server: {peak}");
    assert!(!probes.is_empty());
    assert!(
        probes.iter().all(|(status, _)| *status == 200),
        "/health/live answered every probe: {probes:?}"
    );
    assert!(
        worst_probe <= Duration::from_secs(3),
        "/health/live answered within 3 s throughout: {worst_probe:?}"
    );
}
