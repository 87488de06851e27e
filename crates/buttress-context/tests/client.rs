//! The client layer's injection and refusals, on a paused clock.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress_context::ClientContextLayer;
use buttress_context::trace::parse_traceparent;
use buttress_core::context::{CorrelationId, TraceContext};
use buttress_core::telemetry::{Event, RecordingSink};
use buttress_core::{Criticality, Reason, Rejected, RequestContext};
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// A transport that answers with the headers it was sent, counting calls.
fn echo(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<()>, Response = Response<HeaderMap>, Error = Infallible, Future = impl Send>
+ Clone {
    tower::service_fn(move |req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, Infallible>(Response::new(req.headers().clone())) }
    })
}

fn context() -> RequestContext {
    RequestContext::starting_now()
        .with_correlation_id(CorrelationId::parse(b"abc-123").unwrap())
        .with_trace(
            TraceContext::new([0x4b; 16], [0x11; 8], 0x01)
                .with_state(HeaderValue::from_static("congo=t61")),
        )
        .with_criticality(Criticality::SheddablePlus)
        .with_raw_fault(HeaderValue::from_static("dependency=recs;abort=503"))
}

#[tokio::test(start_paused = true)]
async fn everything_in_the_current_context_is_injected() {
    let calls = Arc::new(AtomicUsize::new(0));
    let client = ClientContextLayer::new().layer(echo(calls.clone()));
    let ctx = context().with_deadline(Instant::now() + Duration::from_millis(100));
    let sent = ctx
        .scope(client.oneshot(Request::new(())))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["x-request-id"], "abc-123");
    assert_eq!(sent["x-request-timeout-ms"], "95");
    assert!(sent.get("grpc-timeout").is_none());
    assert_eq!(sent["x-criticality"], "SHEDDABLE_PLUS");
    assert_eq!(sent["x-buttress-fault"], "dependency=recs;abort=503");
    assert_eq!(sent["tracestate"], "congo=t61");
    let parent = parse_traceparent(sent["traceparent"].as_bytes()).unwrap();
    assert_eq!(parent.trace_id(), [0x4b; 16]);
    assert_ne!(parent.parent_id(), [0x11; 8], "a fresh span id");
    assert_eq!(parent.flags(), 0x01);
}

#[tokio::test(start_paused = true)]
async fn every_call_gets_a_fresh_span_id_in_the_same_trace() {
    let client = ClientContextLayer::new().layer(echo(Arc::default()));
    let ctx = context();
    let first = ctx
        .clone()
        .scope(client.clone().oneshot(Request::new(())))
        .await
        .unwrap()
        .into_body();
    let second = ctx
        .scope(client.oneshot(Request::new(())))
        .await
        .unwrap()
        .into_body();
    let first = parse_traceparent(first["traceparent"].as_bytes()).unwrap();
    let second = parse_traceparent(second["traceparent"].as_bytes()).unwrap();
    assert_eq!(first.trace_id(), second.trace_id());
    assert_ne!(first.parent_id(), second.parent_id());
}

#[tokio::test(start_paused = true)]
async fn a_context_in_the_extensions_wins_over_the_current_one() {
    let client = ClientContextLayer::new().layer(echo(Arc::default()));
    let mut req = Request::new(());
    req.extensions_mut().insert(
        RequestContext::starting_now()
            .with_correlation_id(CorrelationId::parse(b"from-ext").unwrap()),
    );
    let sent = context()
        .scope(client.oneshot(req))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["x-request-id"], "from-ext");
}

#[tokio::test(start_paused = true)]
async fn without_a_context_the_request_passes_unchanged() {
    let client = ClientContextLayer::new().layer(echo(Arc::default()));
    let req = Request::builder()
        .header("x-request-id", "mine")
        .body(())
        .unwrap();
    let sent = client.oneshot(req).await.unwrap().into_body();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent["x-request-id"], "mine");
}

#[tokio::test(start_paused = true)]
async fn grpc_calls_get_grpc_timeout_less_the_margin_keeping_a_shorter_one() {
    let client = ClientContextLayer::builder()
        .configure(|c| c.deadline_margin = Duration::from_millis(10))
        .build()
        .unwrap()
        .layer(echo(Arc::default()));
    let ctx = context().with_deadline(Instant::now() + Duration::from_millis(250));
    let grpc = || {
        Request::builder()
            .header("content-type", "application/grpc+proto")
            .body(())
            .unwrap()
    };
    let sent = ctx
        .clone()
        .scope(client.clone().oneshot(grpc()))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["grpc-timeout"], "240000u");
    assert!(sent.get("x-request-timeout-ms").is_none());

    let mut shorter = grpc();
    shorter
        .headers_mut()
        .insert("grpc-timeout", HeaderValue::from_static("50m"));
    let sent = ctx
        .clone()
        .scope(client.clone().oneshot(shorter))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["grpc-timeout"], "50m");

    let mut longer = grpc();
    longer
        .headers_mut()
        .insert("grpc-timeout", HeaderValue::from_static("5S"));
    let sent = ctx.scope(client.oneshot(longer)).await.unwrap().into_body();
    assert_eq!(sent["grpc-timeout"], "240000u");
}

/// A handler that copies its caller's headers onto a call launders
/// nothing: the deadline headers are cut to the time left (either
/// protocol's, repeated or not), the criticality is the context's, and a
/// fault directive the context does not carry is removed.
#[tokio::test(start_paused = true)]
async fn headers_copied_from_the_caller_are_bounded_or_replaced() {
    let client = ClientContextLayer::new().layer(echo(Arc::default()));
    let ctx = RequestContext::starting_now()
        .with_criticality(Criticality::Sheddable)
        .with_deadline(Instant::now() + Duration::from_millis(100));
    let copied = || {
        Request::builder()
            .header("x-request-timeout-ms", "599999")
            .header("grpc-timeout", "599999m")
            .header("x-criticality", "CRITICAL")
            .header("x-buttress-fault", "abort=503")
            .body(())
            .unwrap()
    };
    let sent = ctx
        .clone()
        .scope(client.clone().oneshot(copied()))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["x-request-timeout-ms"], "95");
    assert_eq!(sent["grpc-timeout"], "95000000n");
    assert_eq!(sent["x-criticality"], "SHEDDABLE");
    assert!(sent.get("x-buttress-fault").is_none());

    // A repeated or unreadable timeout is replaced, a shorter one kept.
    let mut odd = copied();
    odd.headers_mut()
        .append("x-request-timeout-ms", HeaderValue::from_static("1"));
    odd.headers_mut()
        .insert("grpc-timeout", HeaderValue::from_static("soon"));
    let sent = ctx
        .clone()
        .scope(client.clone().oneshot(odd))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent.get_all("x-request-timeout-ms").iter().count(), 1);
    assert_eq!(sent["x-request-timeout-ms"], "95");
    assert_eq!(sent["grpc-timeout"], "95000000n");
    let mut shorter = copied();
    shorter
        .headers_mut()
        .insert("x-request-timeout-ms", HeaderValue::from_static("40"));
    let sent = ctx
        .clone()
        .scope(client.clone().oneshot(shorter))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["x-request-timeout-ms"], "40");

    // The context's own directive replaces a copied one; with forwarding
    // off, neither reaches the dependency.
    let with_fault = ctx.with_raw_fault(HeaderValue::from_static("latency=5ms"));
    let sent = with_fault
        .clone()
        .scope(client.oneshot(copied()))
        .await
        .unwrap()
        .into_body();
    assert_eq!(sent["x-buttress-fault"], "latency=5ms");
    let quiet = ClientContextLayer::builder()
        .configure(|c| c.propagate_fault = false)
        .build()
        .unwrap()
        .layer(echo(Arc::default()));
    let sent = with_fault
        .scope(quiet.oneshot(copied()))
        .await
        .unwrap()
        .into_body();
    assert!(sent.get("x-buttress-fault").is_none());
}

#[tokio::test(start_paused = true)]
async fn no_time_left_refuses_at_once_without_calling() {
    let calls = Arc::new(AtomicUsize::new(0));
    let sink = RecordingSink::new();
    let client = ClientContextLayer::builder()
        .name("inventory")
        .sink(Arc::new(sink.clone()))
        .build()
        .unwrap()
        .layer(echo(calls.clone()));
    let ctx = context().with_deadline(Instant::now() + Duration::from_millis(20));

    tokio::time::advance(Duration::from_millis(16)).await; // 4 ms left, 5 ms margin
    let err = ctx
        .clone()
        .scope(client.clone().oneshot(Request::new(())))
        .await
        .unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(!rejected.was_sent());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        sink.events_for("inventory"),
        vec![Event::Rejected(Reason::DeadlineExceeded)]
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(ctx.scope(client.oneshot(Request::new(()))).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn builder_rejects_clashing_names() {
    let err = ClientContextLayer::builder()
        .configure(|c| c.fault_header = "x-criticality".into())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "criticality_header");
}
