//! (8) Trace context against the current W3C Trace Context spec
//! (w3c/trace-context's `test/test.py`, strict level): four of its tests
//! failed. A `tracestate` with repeated keys was dropped instead of passed
//! on; keys containing `@` outside the old `tenant@system` form were
//! refused; more than 32 members were cut to 32 instead of discarding the
//! header; reserved `trace-flags` bits were forwarded.
//!
//! The same requests as `test.py`, each case citing its rule, through a
//! real default server stack on 127.0.0.1 whose handler calls a harness
//! back through a default client stack (as `test.py`'s harness asks the
//! service under test to): the harness records the `traceparent` and
//! `tracestate` it receives. Each case runs for an untrusted caller and a
//! trusted one: trust steers deadlines, criticality and faults, never how
//! a trace is read, so both must see the same. The full table is in
//! `crates/buttress-context/tests/trace_table.rs`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use buttress::BoxError;
use buttress::context::{ServerContextConfig, TrustConfig};
use buttress::retry::ReplayBody;
use buttress::stack::{ClientStack, ServerStack};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

/// The service under test trusts callers presenting this header.
const TRUSTED: (&str, &str) = ("x-edge-key", "s3cret");

type Callback = BoxCloneSyncService<
    http::Request<Empty<Bytes>>,
    http::Response<hyper::body::Incoming>,
    BoxError,
>;

/// What the harness received on a callback: `traceparent`, and every
/// `tracestate` line joined by `,` (`None`: no `tracestate`).
type Received = (String, Option<String>);

async fn serve(app: Router) -> String {
    let addr = crate::support::serve_app(app).await;
    format!("http://{addr}")
}

/// The harness: records the trace headers of each callback.
async fn harness(log: Arc<Mutex<Vec<Received>>>) -> String {
    let record = move |headers: HeaderMap| {
        let log = log.clone();
        async move {
            let parent = headers["traceparent"].to_str().unwrap().to_owned();
            let states: Vec<&str> = headers
                .get_all("tracestate")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            let state = (!states.is_empty()).then(|| states.join(","));
            log.lock().unwrap().push((parent, state));
            "ok"
        }
    };
    serve(Router::new().route("/callback", get(record))).await
}

/// The service under test: the default server stack (trusting
/// [`TRUSTED`]); its handler calls the harness back through a default
/// client stack over hyper-util's client.
async fn service(callback_url: String) -> String {
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let client: Callback = BoxCloneSyncService::new(
        ClientStack::new("harness")
            .build()
            .unwrap()
            .layer(transport),
    );
    let handler = move |State(client): State<Callback>| {
        let url = callback_url.clone();
        async move {
            let call = http::Request::get(url).body(Empty::new()).unwrap();
            match client.oneshot(call).await {
                Ok(res) => res.status(),
                Err(_) => StatusCode::BAD_GATEWAY,
            }
        }
    };
    let context = ServerContextConfig {
        trust: TrustConfig::Header {
            name: TRUSTED.0.into(),
            value: TRUSTED.1.into(),
        },
        ..ServerContextConfig::default()
    };
    let stack = ServerStack::new("traced").context(context).build().unwrap();
    let app = Router::new()
        .route("/test", get(handler))
        .with_state(client)
        .layer(stack);
    serve(app).await
}

/// Sends `headers` (repeated names become separate lines, in order) and
/// returns what the harness received.
async fn send(
    url: &str,
    log: &Mutex<Vec<Received>>,
    trusted: bool,
    headers: &[(&str, String)],
) -> Received {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let mut request = http::Request::get(format!("{url}/test"));
    if trusted {
        request = request.header(TRUSTED.0, TRUSTED.1);
    }
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let res = client
        .request(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let _ = res.into_body().collect().await;
    assert_eq!(status, StatusCode::OK);
    log.lock()
        .unwrap()
        .pop()
        .expect("the harness was called back")
}

/// What the harness must receive.
enum Expect {
    /// The caller's trace continued, with these `trace-flags` and exactly
    /// this `tracestate` (`None`: none).
    Continued {
        flags: &'static str,
        state: Option<String>,
    },
    /// A new trace, with these `trace-flags` and no `tracestate`.
    Restarted { flags: &'static str },
}

struct Case {
    name: &'static str,
    rule: &'static str,
    headers: Vec<(&'static str, String)>,
    expect: Expect,
}

fn parent(flags: &str) -> (&'static str, String) {
    ("traceparent", format!("00-{TRACE}-{PARENT}-{flags}"))
}

fn state(value: &str) -> (&'static str, String) {
    ("tracestate", value.to_owned())
}

fn kept(value: &str) -> Expect {
    Expect::Continued {
        flags: "00",
        state: Some(value.to_owned()),
    }
}

const DISCARDED: Expect = Expect::Continued {
    flags: "00",
    state: None,
};

/// The lines `test.py` sends for the member limit: `n` members, ten a line.
fn bars(n: usize) -> Vec<(&'static str, String)> {
    let members: Vec<String> = (1..=n).map(|i| format!("bar{i:02}={i:02}")).collect();
    members
        .chunks(10)
        .map(|line| state(&line.join(",")))
        .collect()
}

fn with_parent(lines: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    std::iter::once(parent("00")).chain(lines).collect()
}

fn cases() -> Vec<Case> {
    let key_256 = "z".repeat(256);
    let at_256 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    vec![
        Case {
            name: "duplicated keys are passed on",
            rule: "§Mutating the tracestate Field: vendors MAY discard duplicate keys they did not generate, or pass them on (test_tracestate_duplicated_keys)",
            headers: with_parent(vec![state("foo=1,foo=2")]),
            expect: kept("foo=1,foo=2"),
        },
        Case {
            name: "a key repeated across lines is passed on",
            rule: "§tracestate Header Field Values: lines combined per RFC 9110 §5.3; duplicates passed on (test_tracestate_duplicated_keys)",
            headers: with_parent(vec![state("foo=1"), state("foo=1")]),
            expect: kept("foo=1,foo=1"),
        },
        Case {
            name: "@ ending a key",
            rule: "§tracestate Key: `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, `@` a keychar (test_tracestate_key_illegal_vendor_format)",
            headers: with_parent(vec![state("foo@=1,bar=2")]),
            expect: kept("foo@=1,bar=2"),
        },
        Case {
            name: "@ twice in a key",
            rule: "§tracestate Key: `@` a keychar, any number of times (test_tracestate_key_illegal_vendor_format)",
            headers: with_parent(vec![state("foo@bar@baz=1,bar=2")]),
            expect: kept("foo@bar@baz=1,bar=2"),
        },
        Case {
            name: "@ first: the header discarded",
            rule: "§tracestate Key: \"A key MUST begin with a lowercase letter or a digit\"; processing model 3: an unparsable tracestate MAY be discarded (test_tracestate_key_illegal_vendor_format)",
            headers: with_parent(vec![state("@foo=1,bar=2")]),
            expect: DISCARDED,
        },
        Case {
            name: "a 256-character key",
            rule: "§tracestate Key: up to 256 characters (test_tracestate_key_length_limit)",
            headers: with_parent(vec![state("foo=1"), state(&format!("{key_256}=1"))]),
            expect: kept(&format!("foo=1,{key_256}=1")),
        },
        Case {
            name: "256 characters with @",
            rule: "§tracestate Key: up to 256 characters, `@` a keychar (test_tracestate_key_length_limit)",
            headers: with_parent(vec![state("foo=1"), state(&format!("{at_256}=1"))]),
            expect: kept(&format!("foo=1,{at_256}=1")),
        },
        Case {
            name: "a 257-character key: the header discarded",
            rule: "§tracestate Key: `0*255 ( keychar )` after the first; processing model 3 (test_tracestate_key_length_limit)",
            headers: with_parent(vec![
                state("foo=1"),
                state(&format!("{}=1", "z".repeat(257))),
            ]),
            expect: DISCARDED,
        },
        Case {
            name: "32 members over four lines",
            rule: "§list: \"a maximum of 32 list-members\" (test_tracestate_member_count_limit)",
            headers: with_parent(bars(32)),
            expect: kept(
                &bars(32)
                    .into_iter()
                    .map(|(_, line)| line)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        },
        Case {
            name: "33 members: the header discarded, not cut",
            rule: "§list: `list = list-member 0*31( OWS \",\" OWS list-member )`: 33 is no list (test_tracestate_member_count_limit)",
            headers: with_parent(bars(33)),
            expect: DISCARDED,
        },
        Case {
            name: "reserved flag bits zeroed",
            rule: "traceparent §Other Flags: \"Vendors MUST set those to zero\"; sampled and random-trace-id kept",
            headers: vec![parent("ff")],
            expect: Expect::Continued {
                flags: "03",
                state: None,
            },
        },
        Case {
            name: "random-trace-id kept",
            rule: "traceparent §Random Trace ID Flag: set in the incoming header, it \"MUST also be set in all outgoing traceparent headers which use the same trace-id\" (TraceContext2Test)",
            headers: vec![parent("02")],
            expect: Expect::Continued {
                flags: "02",
                state: None,
            },
        },
        Case {
            name: "a higher version: unknown flags to 0",
            rule: "Processing model 2.2: a higher version's unknown trace-flags set \"to 0 on outgoing requests\"",
            headers: vec![(
                "traceparent",
                format!("cc-{TRACE}-{PARENT}-fd-what-the-future-will-be-like"),
            )],
            expect: Expect::Continued {
                flags: "01",
                state: None,
            },
        },
        Case {
            name: "no traceparent: a new trace, random set, reserved bits 0",
            rule: "§Random Trace ID Flag: a new random trace-id \"SHOULD\" set the flag; §Sampled flag: 0 by default for a trace this component starts; §Other Flags: 0",
            headers: vec![state("foo=1")],
            expect: Expect::Restarted { flags: "02" },
        },
        Case {
            name: "two traceparent lines: a new trace",
            rule: "RFC 9110 §5.3: two traceparent fields are no valid value (test_traceparent_duplicated)",
            headers: vec![parent("01"), parent("01"), state("foo=1")],
            expect: Expect::Restarted { flags: "02" },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3c_strict_cases_hold_through_the_default_stacks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let harness = harness(log.clone()).await;
    let service = service(format!("{harness}/callback")).await;
    for trusted in [false, true] {
        for Case {
            name,
            rule,
            headers,
            expect,
        } in cases()
        {
            let (got_parent, got_state) = send(&service, &log, trusted, &headers).await;
            let why =
                format!("{name} (trusted: {trusted}) — {rule}: got {got_parent} {got_state:?}");
            assert_eq!(got_parent.len(), 55, "{why}");
            assert!(got_parent.starts_with("00-"), "{why}");
            assert_ne!(&got_parent[36..52], PARENT, "a fresh span id: {why}");
            let (same_trace, flags, state) = match expect {
                Expect::Continued { flags, state } => (true, flags, state),
                Expect::Restarted { flags } => (false, flags, None),
            };
            assert_eq!(&got_parent[3..35] == TRACE, same_trace, "{why}");
            assert_eq!(&got_parent[53..], flags, "{why}");
            assert_eq!(got_state, state, "{why}");
        }
    }
}
