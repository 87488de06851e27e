//! Arbitrary bytes in every header the layers parse: nothing panics, and
//! nothing invalid or overlong is echoed or forwarded.

use std::convert::Infallible;
use std::time::Duration;

use buttress_context::trace::{parse_traceparent, tracestate};
use buttress_context::{ClientContextLayer, ServerContextLayer};
use buttress_core::context::CorrelationId;
use buttress_core::layer::LayerBuilder;
use buttress_core::{Criticality, TrustPolicy};
use http::{HeaderMap, HeaderValue, Request, Response};
use proptest::prelude::*;
use tower::{Layer, ServiceExt};

const PARSED: [&str; 9] = [
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "grpc-timeout",
    "x-request-timeout-ms",
    "x-criticality",
    "x-buttress-fault",
    "content-type",
];

/// Bytes biased towards what the parsers look at.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        "[0-9a-fA-F-]{0,70}".prop_map(String::into_bytes),
        "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}".prop_map(String::into_bytes),
        "([a-z0-9@_*/-]{1,20}=[ -~]{0,30}[, \t]{0,3}){0,40}".prop_map(String::into_bytes),
        "[0-9]{0,12}[HMSmun]?".prop_map(String::into_bytes),
        "[A-Za-z0-9._:<>-]{0,300}".prop_map(String::into_bytes),
    ]
}

/// One server hop with a client call inside: the response, and the headers
/// the client sent onward.
fn hop(headers: &HeaderMap) -> (Response<HeaderMap>, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let dependency = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(Response::new(req.headers().clone()))
        });
        let client = ClientContextLayer::new().layer(dependency);
        let handler = tower::service_fn(move |_req: Request<()>| {
            let client = client.clone();
            async move { client.oneshot(Request::new(())).await }
        });
        let server = ServerContextLayer::builder()
            .trust(TrustPolicy::always())
            .configure(|c| c.max_deadline = Some(Duration::from_secs(30)))
            .build()
            .unwrap()
            .layer(handler);
        let mut req = Request::new(());
        *req.headers_mut() = headers.clone();
        let start = tokio::time::Instant::now();
        match server.oneshot(req).await {
            Ok(res) => (res, start.elapsed()),
            // A zero inbound deadline is refused by the client layer.
            Err(_) => (Response::new(HeaderMap::new()), Duration::ZERO),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(bytes in header_bytes()) {
        let _ = parse_traceparent(&bytes);
        let _ = CorrelationId::parse(&bytes);
        let _ = Criticality::parse(&bytes);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let _ = tracestate::limit([&value]);
            let _ = buttress_context::deadline::parse_timeout_ms(&value);
        }
    }

    #[test]
    fn nothing_invalid_is_echoed_or_forwarded(values in proptest::collection::vec(header_bytes(), PARSED.len())) {
        let mut headers = HeaderMap::new();
        for (name, bytes) in PARSED.iter().zip(&values) {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.insert(*name, value);
            }
        }
        let (res, _) = hop(&headers);
        let sent = res.body();
        if sent.is_empty() {
            // Refused for lack of time: only a zero deadline may do that.
            return Ok(());
        }
        // The echoed ID is the inbound one if valid, else a fresh UUID.
        let echoed = res.headers()["x-request-id"].as_bytes().to_vec();
        let inbound = headers.get("x-request-id").or_else(|| headers.get("x-correlation-id"));
        match inbound.and_then(CorrelationId::from_header) {
            Some(id) => prop_assert_eq!(id.header_value().as_bytes(), &echoed[..]),
            None => prop_assert_eq!(echoed.len(), 36),
        }
        prop_assert!(CorrelationId::parse(&echoed).is_some());
        prop_assert_eq!(sent["x-request-id"].as_bytes(), &echoed[..]);

        // traceparent is always rebuilt, valid version 00.
        let parent = sent["traceparent"].as_bytes();
        prop_assert_eq!(parent.len(), 55);
        prop_assert!(parent.starts_with(b"00-"));
        prop_assert!(parse_traceparent(parent).is_ok());

        // tracestate only if the inbound traceparent was valid, and within limits.
        if let Some(state) = sent.get("tracestate") {
            let inbound_parent = headers.get("traceparent").map(|v| v.as_bytes()).unwrap_or_default();
            prop_assert!(parse_traceparent(inbound_parent).is_ok());
            prop_assert!(tracestate::limit([state]).as_ref() == Some(state));
            let members = state.as_bytes().split(|&b| b == b',').filter(|m| m.iter().any(|&b| b != b' ' && b != b'\t')).count();
            prop_assert!(members <= 32);
            prop_assert!(state.len() <= 512);
        }

        // Criticality is always one of the four levels.
        prop_assert!(Criticality::parse(sent["x-criticality"].as_bytes()).is_some());

        // A fault directive only as sent, printable and at most 256 bytes.
        if let Some(fault) = sent.get("x-buttress-fault") {
            prop_assert_eq!(Some(fault), headers.get("x-buttress-fault"));
            prop_assert!(fault.len() <= 256);
            prop_assert!(fault.as_bytes().iter().all(|&b| b == b' ' || b.is_ascii_graphic()));
        }

        // A deadline only if one came in, never more than 30 s.
        if let Some(ms) = sent.get("x-request-timeout-ms") {
            prop_assert!(headers.contains_key("grpc-timeout") || headers.contains_key("x-request-timeout-ms"));
            let ms: u64 = ms.to_str().unwrap().parse().unwrap();
            prop_assert!(ms <= 30_000);
        }
    }
}
