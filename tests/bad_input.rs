//! Bad input through a real server: an axum server on loopback with the
//! server stack (context trusting every caller, so that every header it
//! reads is parsed; metrics; edge; adaptive limit; bulkhead; timeout), fed
//! raw bytes over TCP — malformed and oversized headers, non-UTF-8, a
//! huge `traceparent`, 10 KB request IDs, bad `grpc-timeout`, invalid
//! bodies. Every request gets a status line back: never a panic, never a
//! connection closed without an answer.

#![cfg(all(feature = "stack", feature = "axum"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use buttress::context::{ServerContextConfig, TrustConfig};
use buttress::limit::BulkheadConfig;
use buttress::stack::ServerStack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serve() -> (SocketAddr, buttress::stack::ServerLayer) {
    let context = ServerContextConfig {
        trust: TrustConfig::Always,
        ..ServerContextConfig::default()
    };
    let stack = ServerStack::new("bad-input")
        .context(context)
        .bulkhead(BulkheadConfig {
            max_concurrent: 16,
            ..Default::default()
        })
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/small",
            post(|body: axum::body::Bytes| async move { body.len().to_string() })
                .layer(DefaultBodyLimit::max(1024)),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug on bad input");
                }
                "never"
            }),
        )
        .layer(stack.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, stack)
}

/// What came back on one connection.
#[derive(Debug)]
struct Answer {
    /// The status of each response read, in order.
    statuses: Vec<u16>,
    /// The first response's head, as text.
    head: String,
}

/// Sends `raw` on a fresh connection (the write half then closed, unless
/// `keep_open`), and reads until the server closes or `expect` responses
/// have come back.
async fn exchange(addr: SocketAddr, raw: &[u8], expect: usize) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let raw = raw.to_vec();
    // Write concurrently with reading: a server that answers before the
    // whole request is in (too large) must not deadlock the test.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&raw).await;
        let _ = write.flush().await;
        write
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if count_statuses(&buf).len() >= expect && response_complete(&buf, expect) {
            break;
        }
        let read = tokio::time::timeout_at(deadline, read.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(error)) => {
                assert!(
                    !count_statuses(&buf).is_empty(),
                    "connection failed ({error}) before any answer to {:?}",
                    preview(&buf)
                );
                break;
            }
            Err(_) => panic!(
                "no complete answer within 20 s; read so far: {}",
                preview(&buf)
            ),
        }
    }
    drop(writer);
    let head_end = find(&buf, b"\r\n\r\n").unwrap_or(buf.len());
    Answer {
        statuses: count_statuses(&buf),
        head: String::from_utf8_lossy(&buf[..head_end]).into_owned(),
    }
}

fn preview(buf: &[u8]) -> String {
    String::from_utf8_lossy(&buf[..buf.len().min(300)]).into_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status codes of the status lines in `buf`.
fn count_statuses(buf: &[u8]) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut rest = buf;
    while let Some(at) = find(rest, b"HTTP/1.1 ") {
        let code = &rest[at + 9..];
        if code.len() >= 3
            && let Ok(text) = std::str::from_utf8(&code[..3])
            && let Ok(status) = text.parse::<u16>()
        {
            statuses.push(status);
        }
        rest = &rest[at + 9..];
    }
    statuses
}

/// Whether the `expect`-th response's head has fully arrived.
fn response_complete(buf: &[u8], expect: usize) -> bool {
    let mut rest = buf;
    for _ in 0..expect {
        match find(rest, b"HTTP/1.1 ") {
            Some(at) => rest = &rest[at + 9..],
            None => return false,
        }
    }
    find(rest, b"\r\n\r\n").is_some()
}

fn get_raw(path: &str, headers: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut raw =
        format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n").into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

fn grpc(headers: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut all = vec![
        ("content-type", b"application/grpc".to_vec()),
        ("te", b"trailers".to_vec()),
    ];
    all.extend(headers.iter().cloned());
    get_raw("/", &all)
}

fn repeat(byte: u8, n: usize) -> Vec<u8> {
    vec![byte; n]
}

/// One case: a name, the raw bytes, how many answers to read, and which
/// statuses are the clear answers for it.
struct Case {
    name: &'static str,
    raw: Vec<u8>,
    answers: usize,
    allowed: &'static [u16],
}

fn cases() -> Vec<Case> {
    let hex32 = b"4bf92f3577b34da6a3ce929d0e0e4736";
    let mut huge_traceparent = b"00-".to_vec();
    huge_traceparent.extend(hex32.repeat(500));
    let mut many_headers = Vec::new();
    for i in 0..200 {
        many_headers.push((
            ["x-a", "x-b", "x-c", "x-d"][i % 4],
            format!("{i}").into_bytes(),
        ));
    }
    let many_headers: Vec<(&str, Vec<u8>)> = many_headers;
    let ok: &[u16] = &[200];
    let ok_or_deadline: &[u16] = &[200, 504];
    vec![
        Case {
            name: "plain request",
            raw: get_raw("/", &[]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "10 KB request ID",
            raw: get_raw("/", &[("x-request-id", repeat(b'a', 10 * 1024))]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "10 KB correlation ID of bad bytes",
            raw: get_raw("/", &[("x-correlation-id", repeat(b'%', 10 * 1024))]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "non-UTF-8 request ID",
            raw: get_raw("/", &[("x-request-id", vec![0xff, 0xfe, 0xc3, 0x28, b'a'])]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "16 KB traceparent",
            raw: get_raw("/", &[("traceparent", huge_traceparent.clone())]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "two traceparents and a 9 KB tracestate",
            raw: get_raw(
                "/",
                &[
                    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
                    ("traceparent", b"00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_vec()),
                    ("tracestate", b"k=v,".repeat(2300)),
                ],
            ),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "non-UTF-8 traceparent and tracestate",
            raw: get_raw("/", &[("traceparent", vec![0xff; 55]), ("tracestate", vec![b'k', b'=', 0x80, 0x81])]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "bad grpc-timeout (overlong)",
            raw: grpc(&[("grpc-timeout", b"999999999999999999H".to_vec())]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "bad grpc-timeout (no unit, sign, garbage)",
            raw: grpc(&[("grpc-timeout", b"-5".to_vec()), ("grpc-timeout", vec![0xff, b'S'])]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "grpc-timeout of 1 ns (already expired)",
            raw: grpc(&[("grpc-timeout", b"1n".to_vec())]),
            answers: 1,
            allowed: ok_or_deadline,
        },
        Case {
            name: "bad HTTP deadline header",
            raw: get_raw("/", &[("x-request-timeout-ms", b"-1".to_vec()), ("x-request-timeout-ms", repeat(b'9', 5000))]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "zero HTTP deadline",
            raw: get_raw("/", &[("x-request-timeout-ms", b"0".to_vec())]),
            answers: 1,
            allowed: ok_or_deadline,
        },
        Case {
            name: "bad criticality",
            raw: get_raw("/", &[("x-criticality", repeat(b'C', 4000)), ("x-criticality", vec![0xc3, 0xa9])]),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "bad fault directives",
            raw: get_raw(
                "/",
                &[(
                    "x-buttress-fault",
                    b"dependency=x;abort=999;delay=99999s,dependency=;percent=101,".repeat(100),
                )],
            ),
            answers: 1,
            allowed: ok,
        },
        Case {
            name: "200 headers",
            raw: get_raw("/", &many_headers),
            answers: 1,
            allowed: &[200, 431],
        },
        Case {
            name: "a header with a NUL byte",
            raw: get_raw("/", &[("x-request-id", b"ab\0cd".to_vec())]),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "a header name with a space",
            raw: b"GET / HTTP/1.1\r\nhost: test\r\nbad name: x\r\n\r\n".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "a header line without a colon",
            raw: b"GET / HTTP/1.1\r\nhost: test\r\nno-colon-here\r\n\r\n".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "garbage request line",
            raw: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "64 KB URI",
            raw: get_raw(&format!("/{}", "a".repeat(64 * 1024)), &[]),
            answers: 1,
            allowed: &[404, 414],
        },
        Case {
            name: "a panicking handler",
            raw: get_raw("/panic", &[("x-request-id", b"boom-1".to_vec())]),
            answers: 1,
            allowed: &[500],
        },
        Case {
            name: "non-UTF-8 body to a text handler",
            raw: b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\n\xff\xfe\xfd\xfc".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "body over the route's limit",
            raw: [
                b"POST /small HTTP/1.1\r\nhost: test\r\ncontent-length: 2048\r\nconnection: close\r\n\r\n".to_vec(),
                repeat(b'x', 2048),
            ]
            .concat(),
            answers: 1,
            allowed: &[413],
        },
        Case {
            name: "invalid chunked body",
            raw: b"POST /echo HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "content-length and chunked together",
            raw: b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
            answers: 1,
            allowed: &[200, 400],
        },
        Case {
            name: "two content-lengths that disagree",
            raw: b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!".to_vec(),
            answers: 1,
            allowed: &[400],
        },
        Case {
            name: "a body longer than its content-length (the rest is garbage)",
            raw: b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\n\r\nhello GARBAGE\r\n\r\n".to_vec(),
            answers: 2,
            allowed: &[200, 400],
        },
        Case {
            name: "keep-alive: a bad header after a good request",
            raw: [get_raw("/", &[]).strip_suffix(b"connection: close\r\n\r\n").map(|r| [r, &b"\r\n"[..]].concat()).unwrap(), get_raw("/", &[("x-request-id", b"a\0".to_vec())])].concat(),
            answers: 2,
            allowed: &[200, 400],
        },
    ]
}

#[tokio::test]
async fn every_bad_input_gets_a_clear_answer() {
    let (addr, stack) = serve().await;
    let mut report = Vec::new();
    for case in cases() {
        let answer = exchange(addr, &case.raw, case.answers).await;
        assert!(
            answer.statuses.len() >= case.answers,
            "{}: {} answers for {} requests: {answer:?}",
            case.name,
            answer.statuses.len(),
            case.answers
        );
        for status in &answer.statuses {
            assert!(
                case.allowed.contains(status),
                "{}: status {status}, expected one of {:?}: {}",
                case.name,
                case.allowed,
                answer.head
            );
        }
        let head = answer.head.to_ascii_lowercase();
        if answer.statuses[0] == 200 {
            // The stack echoed an ID of its own rules, never the bad one.
            let id = head
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .expect("the context layer echoes an ID");
            assert!(
                id.len() <= 128,
                "{}: echoed a {}-byte ID",
                case.name,
                id.len()
            );
        }
        report.push(format!("{}: {:?}", case.name, answer.statuses));
    }
    println!("{}", report.join("\n"));

    // Nothing held after all of it.
    let limit = stack.adaptive_limit().unwrap();
    let bulkhead = stack.bulkhead().unwrap();
    for _ in 0..100 {
        if limit.in_flight() == 0 && bulkhead.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(limit.in_flight(), 0);
    assert_eq!(bulkhead.in_flight(), 0);

    // And the server still answers.
    assert_eq!(
        exchange(addr, &get_raw("/", &[]), 1).await.statuses,
        vec![200]
    );
}

/// A header block past hyper's limit (1 MiB here) is refused by hyper
/// itself, before any layer: still with an answer. The server may close
/// the connection with part of the request unread, so the client reads
/// while it writes.
#[tokio::test]
async fn a_header_block_past_the_server_limit_is_refused_with_an_answer() {
    let (addr, _stack) = serve().await;
    let raw = get_raw("/", &[("x-huge", repeat(b'a', huge_size()))]);
    let answer = exchange(addr, &raw, 1).await;
    assert_eq!(answer.statuses, vec![431], "{answer:?}");
}

fn huge_size() -> usize {
    std::env::var("HUGE_HEADER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024 * 1024)
}
