//! The W3C Trace Context rules as a table: each `traceparent` /
//! `tracestate` pair with what the server must make of it.

use buttress_context::trace::read_trace;
use http::{HeaderMap, HeaderValue};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// What reading the headers must give.
#[derive(Debug, PartialEq)]
enum Expect {
    /// No valid trace: the server starts a new one.
    Invalid,
    /// A valid trace with these flags and exactly this `tracestate`
    /// forwarded (`None`: no `tracestate`).
    Valid { flags: u8, state: Option<String> },
}

use Expect::{Invalid, Valid};

fn valid(flags: u8) -> Expect {
    Valid { flags, state: None }
}

fn with_state(state: &str) -> Expect {
    Valid {
        flags: 1,
        state: Some(state.to_owned()),
    }
}

fn members(n: usize) -> String {
    (0..n)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn parent(version: &str, trace: &str, parent: &str, flags: &str) -> String {
    format!("{version}-{trace}-{parent}-{flags}")
}

fn ok_parent() -> String {
    parent("00", TRACE, PARENT, "01")
}

fn cases() -> Vec<(&'static str, Vec<String>, Vec<String>, Expect)> {
    let long_entry = format!("big={}", "x".repeat(200));
    let mid = |c: char| format!("{c}={}", "y".repeat(98)); // 100 characters
    vec![
        ("valid, sampled", vec![ok_parent()], vec![], valid(1)),
        (
            "valid, not sampled",
            vec![parent("00", TRACE, PARENT, "00")],
            vec![],
            valid(0),
        ),
        (
            "unknown flags are kept",
            vec![parent("00", TRACE, PARENT, "ff")],
            vec![],
            valid(0xff),
        ),
        (
            "version ff is invalid",
            vec![parent("ff", TRACE, PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "all-zero trace id",
            vec![parent("00", &"0".repeat(32), PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "all-zero parent id",
            vec![parent("00", TRACE, &"0".repeat(16), "01")],
            vec![],
            Invalid,
        ),
        (
            "upper-case trace id",
            vec![parent("00", &TRACE.to_uppercase(), PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "upper-case parent id",
            vec![parent("00", TRACE, &PARENT.to_uppercase(), "01")],
            vec![],
            Invalid,
        ),
        (
            "upper-case version",
            vec![parent("0A", TRACE, PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "upper-case flags",
            vec![parent("00", TRACE, PARENT, "0A")],
            vec![],
            Invalid,
        ),
        (
            "non-hex flags",
            vec![parent("00", TRACE, PARENT, "0g")],
            vec![],
            Invalid,
        ),
        (
            "one-digit flags",
            vec![format!("00-{TRACE}-{PARENT}-1")],
            vec![],
            Invalid,
        ),
        (
            "short trace id",
            vec![parent("00", &TRACE[..31], PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "long trace id",
            vec![parent("00", &format!("{TRACE}a"), PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "short parent id",
            vec![parent("00", TRACE, &PARENT[..15], "01")],
            vec![],
            Invalid,
        ),
        (
            "long parent id",
            vec![parent("00", TRACE, &format!("{PARENT}a"), "01")],
            vec![],
            Invalid,
        ),
        (
            "version 00 with extra field",
            vec![format!("{}-extra", ok_parent())],
            vec![],
            Invalid,
        ),
        (
            "trailing space",
            vec![format!("{} ", ok_parent())],
            vec![],
            Invalid,
        ),
        (
            "wrong delimiter",
            vec![format!("00_{TRACE}-{PARENT}-01")],
            vec![],
            Invalid,
        ),
        ("empty", vec![String::new()], vec![], Invalid),
        ("garbage", vec!["hello".into()], vec![], Invalid),
        (
            "two traceparent headers",
            vec![ok_parent(), ok_parent()],
            vec![],
            Invalid,
        ),
        (
            "higher version, exact length",
            vec![parent("01", TRACE, PARENT, "01")],
            vec![],
            valid(1),
        ),
        (
            "higher version with extra fields",
            vec![format!(
                "{}-what-the-future-holds",
                parent("cc", TRACE, PARENT, "01")
            )],
            vec![],
            valid(1),
        ),
        (
            "higher version, extra bytes without a dash",
            vec![format!("{}x", parent("cc", TRACE, PARENT, "01"))],
            vec![],
            Invalid,
        ),
        (
            "higher version, zero trace id",
            vec![parent("cc", &"0".repeat(32), PARENT, "01")],
            vec![],
            Invalid,
        ),
        (
            "tracestate forwarded as sent",
            vec![ok_parent()],
            vec!["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()],
            with_state("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ),
        (
            "tracestate with spaces and empty members",
            vec![ok_parent()],
            vec!["a=1 , ,b=2".into()],
            with_state("a=1 , ,b=2"),
        ),
        (
            "multi-tenant key",
            vec![ok_parent()],
            vec!["fw529a3039@dt=abc".into()],
            with_state("fw529a3039@dt=abc"),
        ),
        (
            "tracestate ignored with invalid traceparent",
            vec![parent("ff", TRACE, PARENT, "01")],
            vec!["a=1".into()],
            Invalid,
        ),
        (
            "upper-case tracestate key drops it",
            vec![ok_parent()],
            vec!["Rojo=1".into()],
            valid(1),
        ),
        (
            "key starting with a digit",
            vec![ok_parent()],
            vec!["1a=1".into()],
            valid(1),
        ),
        (
            "value with =",
            vec![ok_parent()],
            vec!["a=b=c".into()],
            valid(1),
        ),
        (
            "empty value",
            vec![ok_parent()],
            vec!["a=".into()],
            valid(1),
        ),
        (
            "duplicate keys drop it",
            vec![ok_parent()],
            vec!["a=1,a=2".into()],
            valid(1),
        ),
        (
            "one bad member drops it all",
            vec![ok_parent()],
            vec!["a=1,B=2".into()],
            valid(1),
        ),
        (
            "32 members kept",
            vec![ok_parent()],
            vec![members(32)],
            with_state(&members(32)),
        ),
        (
            "33 members: the last dropped",
            vec![ok_parent()],
            vec![members(33)],
            with_state(&members(32)),
        ),
        (
            "two lines are joined",
            vec![ok_parent()],
            vec!["a=1".into(), "b=2".into()],
            with_state("a=1,b=2"),
        ),
        (
            "oversize: entries over 128 characters go first",
            vec![ok_parent()],
            vec![format!(
                "{},{},{},{},{}",
                mid('a'),
                long_entry,
                mid('b'),
                mid('c'),
                mid('d')
            )],
            with_state(&format!(
                "{},{},{},{}",
                mid('a'),
                mid('b'),
                mid('c'),
                mid('d')
            )),
        ),
        (
            "oversize: then entries from the end",
            vec![ok_parent()],
            vec![format!(
                "{},{},{},{},{},{}",
                mid('a'),
                mid('b'),
                mid('c'),
                mid('d'),
                mid('e'),
                mid('f')
            )],
            with_state(&format!(
                "{},{},{},{},{}",
                mid('a'),
                mid('b'),
                mid('c'),
                mid('d'),
                mid('e')
            )),
        ),
        (
            "input beyond 8 KiB is not read",
            vec![ok_parent()],
            vec![format!("a={}", "z".repeat(9000))],
            valid(1),
        ),
    ]
}

#[test]
fn trace_context_table() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (name, parents, states, expect) in cases {
        let mut headers = HeaderMap::new();
        for value in &parents {
            headers.append("traceparent", HeaderValue::from_str(value).unwrap());
        }
        for value in &states {
            headers.append("tracestate", HeaderValue::from_str(value).unwrap());
        }
        let got = match read_trace(&headers) {
            None => Invalid,
            Some(trace) => {
                assert_eq!(
                    trace.parent_id(),
                    [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
                    "{name}"
                );
                Valid {
                    flags: trace.flags(),
                    state: trace.state().map(|s| s.to_str().unwrap().to_owned()),
                }
            }
        };
        assert_eq!(got, expect, "{name}");
        if let Valid {
            state: Some(state), ..
        } = &got
        {
            assert!(
                state.len() <= 512 || states.len() == 1 && states[0] == *state,
                "{name}"
            );
            assert!(
                state.split(',').filter(|m| !m.trim().is_empty()).count() <= 32,
                "{name}"
            );
        }
    }
}
