//! The fuzz targets: one function per parser of untrusted input.
//!
//! Each takes arbitrary bytes, runs them through the parser the way an
//! inbound header reaches it, and asserts what must hold whatever the
//! input: no panic, output bounded by the parser's documented cap, and
//! what it accepts round-trips through its encoder. It returns a short
//! label for what the parser made of the input (`ok`, or the error's
//! kind), which the stable harness uses to judge an input interesting.
//!
//! Shared by three drivers: the corpus replay in the ordinary test suite
//! (`tests/fuzz_corpus.rs`), the stable mutation loop behind
//! `scripts/fuzz`, and the libFuzzer targets in `fuzz/fuzz_targets/`
//! (`cargo +nightly fuzz run <target>`, where a nightly toolchain is
//! there). See RELIABILITY.md.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use buttress_chaos::directive::{Directive, Directives, MAX_DELAY, MAX_DIRECTIVES};
use buttress_context::deadline::parse_timeout_ms;
use buttress_context::id::IdRules;
use buttress_context::trace::{
    KNOWN_FLAGS, parse_traceparent, read_trace, tracestate, write_traceparent,
};
use buttress_core::codec::{
    MAX_RETRY_AFTER, Pushback, grpc_timeout_value, parse_grpc_timeout, parse_pushback,
    parse_retry_after, pushback_value,
};
use buttress_core::context::{CorrelationId, Criticality, IpNet, TrustPolicy};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A fuzz target: the input in, a label for what the parser made of it.
pub type Target = fn(&[u8]) -> &'static str;

/// Every target, by the name its corpus folder (`fuzz/corpus/<name>/`)
/// and its libFuzzer binary carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("correlation_id", correlation_id),
    ("traceparent", traceparent),
    ("tracestate", tracestate_lines),
    ("grpc_timeout", grpc_timeout),
    ("timeout_ms", timeout_ms),
    ("retry_after", retry_after),
    ("grpc_retry_pushback", pushback),
    ("fault_directive", fault_directive),
    ("criticality", criticality),
    ("client_address", client_address),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Inputs longer than this are cut: well past every parser's own cap
/// (the longest, `tracestate`'s, is 8 KiB), and past hyper's default
/// header size, so the caps themselves are exercised.
pub const MAX_INPUT: usize = 32 * 1024;

/// A fixed "now" for `Retry-After` dates: 2026-01-01T00:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn header(data: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(data).ok()
}

/// The correlation ID, by core's strict parser and by the context
/// layer's rules (default and widened): they agree, and an accepted ID is
/// the input, byte for byte, within the length cap.
pub fn correlation_id(data: &[u8]) -> &'static str {
    let parsed = CorrelationId::parse(data);
    if let Some(id) = &parsed {
        assert_eq!(id.as_str().as_bytes(), data);
        assert!(data.len() <= CorrelationId::MAX_LEN);
        assert!(data.iter().all(|&b| CorrelationId::is_allowed(b)));
        assert_eq!(id.header_value().as_bytes(), data);
    }
    let Some(value) = header(data) else {
        assert!(parsed.is_none(), "an ID that is no header value");
        return "not_a_header";
    };
    assert_eq!(
        CorrelationId::from_header(&value).is_some(),
        parsed.is_some()
    );
    assert_eq!(
        IdRules::default().accept(&value).is_some(),
        parsed.is_some()
    );
    let wide = IdRules::default().also_allow("+/=").expect("valid rules");
    if let Some(id) = wide.accept(&value) {
        assert!(id.as_str().len() <= CorrelationId::MAX_LEN);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic()));
    }
    match parsed {
        Some(_) => "ok",
        None if data.is_empty() => "empty",
        None if data.len() > CorrelationId::MAX_LEN => "too_long",
        None => "invalid",
    }
}

/// `traceparent`: what parses writes back as sent (for version 00, the
/// whole value; for later versions, the version-00 fields), with non-zero
/// IDs, except the reserved flag bits, which read and write as zero;
/// `read_trace` agrees with the parser.
pub fn traceparent(data: &[u8]) -> &'static str {
    let parsed = parse_traceparent(data);
    if let Ok(trace) = &parsed {
        assert!(data.len() >= 55);
        assert_ne!(trace.trace_id(), [0; 16]);
        assert_ne!(trace.parent_id(), [0; 8]);
        assert_eq!(trace.flags() & !KNOWN_FLAGS, 0);
        let written = write_traceparent(trace.trace_id(), trace.parent_id(), trace.flags());
        let sent = std::str::from_utf8(&data[53..55]).expect("parsed flags are hex");
        let flags = u8::from_str_radix(sent, 16).expect("parsed flags are hex") & KNOWN_FLAGS;
        assert_eq!(written[53..55], *format!("{flags:02x}").as_bytes());
        if data.starts_with(b"00") {
            assert_eq!(&written[..53], &data[..53]);
        } else {
            assert_eq!(&written[2..53], &data[2..53]);
        }
    }
    if let Some(value) = header(data) {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("traceparent"), value);
        if let Some(trace) = read_trace(&headers) {
            assert_eq!(Ok(trace.trace_id()), parsed.as_ref().map(|t| t.trace_id()));
        }
    }
    match parsed {
        Ok(_) => "ok",
        Err(error) => error_kind(&error),
    }
}

/// `tracestate`, as several header lines (the input split at `\n`): what
/// is forwarded is within the cap, well formed, and forwarded again
/// unchanged.
pub fn tracestate_lines(data: &[u8]) -> &'static str {
    let lines: Vec<HeaderValue> = data.split(|&b| b == b'\n').filter_map(header).collect();
    let Some(kept) = tracestate::limit(&lines) else {
        return if lines.is_empty() {
            "no_lines"
        } else {
            "dropped"
        };
    };
    let bytes = kept.as_bytes();
    assert!(bytes.len() <= tracestate::MAX_LEN, "{} bytes", bytes.len());
    // Empty members (`a=1,,b=2`) are allowed by the spec and may be
    // forwarded as they came; every other member is `key=value`.
    let members: Vec<&[u8]> = bytes
        .split(|&b| b == b',')
        .map(|m| m.trim_ascii())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(
        !members.is_empty() && members.len() <= 32,
        "{} members",
        members.len()
    );
    for member in members {
        assert!(
            member.contains(&b'='),
            "{:?}",
            String::from_utf8_lossy(member)
        );
    }
    let again = tracestate::limit(std::slice::from_ref(&kept));
    assert_eq!(again.as_ref(), Some(&kept), "forwarding is not idempotent");
    let total: usize = lines.iter().map(HeaderValue::len).sum();
    if bytes.len() < total { "cut" } else { "kept" }
}

/// `grpc-timeout`: an accepted timeout re-encodes to a value that parses.
pub fn grpc_timeout(data: &[u8]) -> &'static str {
    let Some(value) = header(data) else {
        return "not_a_header";
    };
    match parse_grpc_timeout(&value) {
        Ok(timeout) => {
            let encoded = grpc_timeout_value(timeout);
            assert!(encoded.len() <= 9, "{encoded:?}");
            let again = parse_grpc_timeout(&encoded).expect("our own encoding parses");
            assert!(
                again >= timeout,
                "{again:?} < {timeout:?}: encoding cut the timeout"
            );
            "ok"
        }
        Err(error) => error_kind(&error),
    }
}

/// The HTTP deadline header (`x-request-timeout-ms` style, milliseconds).
pub fn timeout_ms(data: &[u8]) -> &'static str {
    let Some(value) = header(data) else {
        return "not_a_header";
    };
    match parse_timeout_ms(&value) {
        Ok(timeout) => {
            assert!(timeout < Duration::from_secs(u64::MAX / 1000));
            "ok"
        }
        Err(error) => error_kind(&error),
    }
}

/// `Retry-After`, seconds or an HTTP date: what is accepted is at most
/// [`MAX_RETRY_AFTER`].
pub fn retry_after(data: &[u8]) -> &'static str {
    let Some(value) = header(data) else {
        return "not_a_header";
    };
    match parse_retry_after(&value, now()) {
        Ok(delay) => {
            assert!(delay <= MAX_RETRY_AFTER, "{delay:?}");
            "ok"
        }
        Err(error) => error_kind(&error),
    }
}

/// `grpc-retry-pushback-ms`: a delay of at most ten digits of
/// milliseconds, re-encoded (clamped to [`MAX_RETRY_AFTER`]) to the same
/// delay.
pub fn pushback(data: &[u8]) -> &'static str {
    let Some(value) = header(data) else {
        return "not_a_header";
    };
    match parse_pushback(&value) {
        Pushback::RetryAfter(delay) => {
            assert!(delay <= Duration::from_millis(9_999_999_999), "{delay:?}");
            let again = parse_pushback(&pushback_value(delay));
            assert_eq!(again, Pushback::RetryAfter(delay.min(MAX_RETRY_AFTER)));
            "retry_after"
        }
        Pushback::DoNotRetry => "do_not_retry",
    }
}

/// The fault directive header: at most [`MAX_DIRECTIVES`] directives,
/// each naming a dependency from the input, a percent of at most 100 and
/// a delay within [`MAX_DELAY`]; the iterator ends.
pub fn fault_directive(data: &[u8]) -> &'static str {
    let single = Directive::parse(data);
    if let Ok(directive) = &single {
        check_directive(data, directive);
    }
    let mut label = "ok";
    let mut ok = 0;
    for (n, item) in Directives::new(data).enumerate() {
        assert!(n <= data.len() + 1, "the iterator does not end");
        match item {
            Ok(directive) => {
                ok += 1;
                check_directive(data, &directive);
            }
            Err(error) => {
                if label == "ok" {
                    label = error.as_str();
                }
            }
        }
    }
    assert!(ok <= MAX_DIRECTIVES, "{ok} directives");
    label
}

fn check_directive(data: &[u8], directive: &Directive<'_>) {
    let dependency = directive.dependency();
    assert!(!dependency.is_empty());
    assert!(
        dependency
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    );
    assert!(
        data.windows(dependency.len())
            .any(|w| w == dependency.as_bytes())
    );
    assert!(directive.percent() <= 100);
    let fault = directive.fault();
    assert!(!fault.is_none());
    if let Some(delay) = fault.delay() {
        assert!(
            delay >= Duration::from_millis(1) && delay <= MAX_DELAY,
            "{delay:?}"
        );
    }
}

/// Criticality: only the four levels, case-insensitively.
pub fn criticality(data: &[u8]) -> &'static str {
    match Criticality::parse(data) {
        Some(level) => {
            assert!(level.as_str().as_bytes().eq_ignore_ascii_case(data));
            level.as_str()
        }
        None if data.len() > "SHEDDABLE_PLUS".len() => "too_long",
        None => "invalid",
    }
}

/// The networks a trust policy is built from (`IpNet`, as in a config's
/// trusted proxies), and the addresses forwarded-address headers carry:
/// a network parses only within 64 bytes and contains its own address,
/// and a policy of it trusts that address.
pub fn client_address(data: &[u8]) -> &'static str {
    let Ok(text) = std::str::from_utf8(data) else {
        return "not_utf8";
    };
    let net = IpNet::from_str(text);
    assert_eq!(TrustPolicy::peers([text]).is_ok(), net.is_ok());
    let address = text.split_once('/').map_or(text, |(a, _)| a);
    match (net, IpAddr::from_str(address)) {
        (Ok(net), Ok(ip)) => {
            assert!(text.len() <= 64);
            assert!(net.contains(ip), "{net:?} does not contain {ip}");
            assert!(TrustPolicy::peers([text]).unwrap().trusts_ip(ip));
            if text.contains('/') {
                "network"
            } else {
                "address"
            }
        }
        (Ok(net), Err(_)) => panic!("{net:?} parsed from {text:?}, whose address does not"),
        (Err(_), Ok(_)) if text.len() > 64 => "too_long",
        (Err(_), Ok(_)) => "bad_prefix",
        (Err(_), Err(_)) => "invalid",
    }
}

/// The variant name of a unit-like error, as a static label.
fn error_kind(error: &impl std::fmt::Debug) -> &'static str {
    let text = format!("{error:?}");
    let name = text.split(['(', ' ', '{']).next().unwrap_or("error");
    // Leak-free: the labels are a small closed set, interned here.
    KINDS
        .iter()
        .find(|kind| **kind == name)
        .copied()
        .unwrap_or("error")
}

const KINDS: &[&str] = &[
    "Empty",
    "TooLong",
    "Invalid",
    "InPast",
    "OutOfRange",
    "Length",
    "Version",
    "Delimiter",
    "TraceId",
    "ParentId",
    "Flags",
    "Format",
];
