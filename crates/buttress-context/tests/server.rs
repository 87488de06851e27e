//! The server layer's decisions, on a paused clock with in-process
//! services.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_context::ServerContextLayer;
use buttress_context::id::{IdMode, MakeCorrelationId};
use buttress_core::context::{CorrelationId, spawn_with_context};
use buttress_core::layer::LayerBuilder;
use buttress_core::{Criticality, RequestContext, TrustPolicy};
use http::{HeaderName, HeaderValue, Request, Response};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// Serves one request and returns the context the handler saw (from the
/// request, as layers find it, and as the current context) and the
/// response.
async fn serve(layer: &ServerContextLayer, request: Request<()>) -> (RequestContext, Response<()>) {
    let seen = Arc::new(Mutex::new(None));
    let store = seen.clone();
    let handler = tower::service_fn(move |req: Request<()>| {
        let store = store.clone();
        async move {
            // Layers find the context through the request (what they use),
            // which finds the current one: no copy rides in the extensions.
            assert!(RequestContext::from_extensions(req.extensions()).is_none());
            let (id, start) = RequestContext::with_request(&req, |ctx| {
                let ctx = ctx.expect("the request's context found");
                (ctx.correlation_id().cloned(), ctx.start())
            });
            let current = RequestContext::current().expect("the current context set");
            assert_eq!(id.as_ref(), current.correlation_id());
            assert_eq!(start, current.start());
            *store.lock().unwrap() = Some(current);
            Ok::<_, Infallible>(Response::new(()))
        }
    });
    let response = layer.layer(handler).oneshot(request).await.unwrap();
    let ctx = seen.lock().unwrap().take().unwrap();
    (ctx, response)
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::get("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn gateway() -> TrustPolicy {
    TrustPolicy::header(
        HeaderName::from_static("x-gateway"),
        HeaderValue::from_static("s3cret"),
    )
}

const TRUSTED: (&str, &str) = ("x-gateway", "s3cret");

#[tokio::test(start_paused = true)]
async fn trusted_valid_id_is_forwarded_byte_for_byte_and_echoed() {
    let layer = ServerContextLayer::internal(gateway());
    let (ctx, res) = serve(&layer, request(&[TRUSTED, ("x-request-id", "abc-123")])).await;
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "abc-123");
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test(start_paused = true)]
async fn x_correlation_id_is_accepted_and_echoed_under_the_id_header() {
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let (ctx, res) = serve(&layer, request(&[("x-correlation-id", "corr-9")])).await;
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "corr-9");
    assert_eq!(res.headers()["x-request-id"], "corr-9");
}

#[tokio::test(start_paused = true)]
async fn untrusted_invalid_or_overlong_ids_get_a_fresh_one() {
    let layer = ServerContextLayer::internal(gateway());
    let long = "a".repeat(300);
    for headers in [
        vec![("x-request-id", "abc-123")],
        vec![TRUSTED, ("x-request-id", "<script>")],
        vec![TRUSTED, ("x-request-id", long.as_str())],
        vec![TRUSTED, ("x-request-id", "")],
        vec![TRUSTED],
    ] {
        let (ctx, res) = serve(&layer, request(&headers)).await;
        let id = ctx.correlation_id().unwrap().as_str().to_owned();
        assert_eq!(id.len(), 36, "{headers:?}");
        assert_eq!(res.headers()["x-request-id"], id.as_str());
    }
}

#[tokio::test(start_paused = true)]
async fn a_repeated_id_header_is_not_accepted() {
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let mut req = request(&[("x-request-id", "one")]);
    req.headers_mut()
        .append("x-request-id", HeaderValue::from_static("two"));
    let (ctx, _) = serve(&layer, req).await;
    assert_eq!(ctx.correlation_id().unwrap().as_str().len(), 36);
}

#[tokio::test(start_paused = true)]
async fn generate_mode_ignores_even_trusted_ids() {
    struct Fixed;
    impl MakeCorrelationId for Fixed {
        fn make_id(&self) -> CorrelationId {
            CorrelationId::parse(b"made-here").unwrap()
        }
    }
    let layer = ServerContextLayer::builder()
        .configure(|c| c.id_mode = IdMode::Generate)
        .trust(TrustPolicy::always())
        .make_id(Fixed)
        .build()
        .unwrap();
    let (ctx, res) = serve(&layer, request(&[("x-request-id", "abc-123")])).await;
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "made-here");
    assert_eq!(res.headers()["x-request-id"], "made-here");
}

#[tokio::test(start_paused = true)]
async fn the_id_is_echoed_even_over_a_handlers_own() {
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let handler = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("x-request-id", "other")
                .body(())
                .unwrap(),
        )
    });
    let res = layer
        .layer(handler)
        .oneshot(request(&[("x-request-id", "abc-123")]))
        .await
        .unwrap();
    assert_eq!(res.headers().get_all("x-request-id").iter().count(), 1);
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test(start_paused = true)]
async fn trusted_deadline_is_read_and_capped_by_the_servers_limit() {
    let layer = ServerContextLayer::builder()
        .trust(gateway())
        .configure(|c| c.max_deadline = Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let (ctx, _) = serve(&layer, request(&[TRUSTED, ("x-request-timeout-ms", "150")])).await;
    assert_eq!(
        ctx.deadline(),
        Some(ctx.start() + Duration::from_millis(150))
    );
    let (ctx, _) = serve(&layer, request(&[TRUSTED, ("grpc-timeout", "80m")])).await;
    assert_eq!(
        ctx.deadline(),
        Some(ctx.start() + Duration::from_millis(80))
    );
    let (ctx, _) = serve(&layer, request(&[TRUSTED, ("grpc-timeout", "99999999H")])).await;
    assert_eq!(ctx.deadline(), Some(ctx.start() + Duration::from_secs(2)));
    let (ctx, _) = serve(&layer, request(&[TRUSTED, ("x-request-timeout-ms", "1e3")])).await;
    assert_eq!(ctx.deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn untrusted_deadline_and_criticality_are_ignored() {
    let layer = ServerContextLayer::builder()
        .trust(gateway())
        .configure(|c| {
            c.default_deadline = Some(Duration::from_secs(1));
            c.default_criticality = Criticality::SheddablePlus.as_str().into();
        })
        .build()
        .unwrap();
    let headers = [
        ("x-request-timeout-ms", "50"),
        ("x-criticality", "CRITICAL_PLUS"),
        ("x-buttress-fault", "abort=503"),
    ];
    let (ctx, _) = serve(&layer, request(&headers)).await;
    assert_eq!(ctx.deadline(), Some(ctx.start() + Duration::from_secs(1)));
    assert_eq!(ctx.criticality(), Criticality::SheddablePlus);
    assert!(ctx.raw_fault().is_none());

    let mut trusted = headers.to_vec();
    trusted.push(TRUSTED);
    let (ctx, _) = serve(&layer, request(&trusted)).await;
    assert_eq!(
        ctx.deadline(),
        Some(ctx.start() + Duration::from_millis(50))
    );
    assert_eq!(ctx.criticality(), Criticality::CriticalPlus);
    assert_eq!(ctx.raw_fault().unwrap(), "abort=503");
}

#[tokio::test(start_paused = true)]
async fn invalid_criticality_keeps_the_default() {
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let (ctx, _) = serve(&layer, request(&[("x-criticality", "URGENT")])).await;
    assert_eq!(ctx.criticality(), Criticality::Critical);
}

#[tokio::test(start_paused = true)]
async fn fault_directives_are_capped_and_printable() {
    let layer = ServerContextLayer::builder()
        .trust(TrustPolicy::always())
        .configure(|c| c.max_fault_len = Some(16))
        .build()
        .unwrap();
    let (ctx, _) = serve(&layer, request(&[("x-buttress-fault", "delay=2s")])).await;
    assert_eq!(ctx.raw_fault().unwrap(), "delay=2s");
    let (ctx, _) = serve(
        &layer,
        request(&[("x-buttress-fault", "dependency=recommendations")]),
    )
    .await;
    assert!(ctx.raw_fault().is_none());
    let mut req = request(&[]);
    req.headers_mut().insert(
        "x-buttress-fault",
        HeaderValue::from_bytes(b"a\tb").unwrap(),
    );
    let (ctx, _) = serve(&layer, req).await;
    assert!(ctx.raw_fault().is_none());

    let off = ServerContextLayer::builder()
        .trust(TrustPolicy::always())
        .configure(|c| c.max_fault_len = None)
        .build()
        .unwrap();
    let (ctx, _) = serve(&off, request(&[("x-buttress-fault", "delay=2s")])).await;
    assert!(ctx.raw_fault().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_start_instant_is_read_once_at_arrival() {
    let layer = ServerContextLayer::public();
    let before = Instant::now();
    let (ctx, _) = serve(&layer, request(&[])).await;
    assert_eq!(ctx.start(), before);

    // A context already in the extensions keeps its start.
    let earlier = before - Duration::from_millis(30);
    let mut req = request(&[]);
    req.extensions_mut().insert(RequestContext::new(earlier));
    let (ctx, _) = serve(&layer, req).await;
    assert_eq!(ctx.start(), earlier);
}

#[tokio::test(start_paused = true)]
async fn a_valid_trace_is_continued_and_an_invalid_one_replaced() {
    let layer = ServerContextLayer::public();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (ctx, _) = serve(
        &layer,
        request(&[("traceparent", parent), ("tracestate", "a=1")]),
    )
    .await;
    let trace = ctx.trace().unwrap();
    assert_eq!(trace.trace_id()[..2], [0x4b, 0xf9]);
    assert_eq!(trace.state().unwrap(), "a=1");

    let (ctx, _) = serve(
        &layer,
        request(&[
            ("traceparent", &parent.to_uppercase()),
            ("tracestate", "a=1"),
        ]),
    )
    .await;
    let trace = ctx.trace().unwrap();
    assert_ne!(trace.trace_id()[..2], [0x4b, 0xf9]);
    assert!(trace.state().is_none());
    assert!(!trace.is_sampled());
}

#[tokio::test]
async fn spawned_work_keeps_the_context_with_the_helper() {
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let handler = tower::service_fn(|_req: Request<()>| async {
        let carried = spawn_with_context(async { RequestContext::current().is_some() })
            .await
            .unwrap();
        let lost = tokio::spawn(async { RequestContext::current().is_some() })
            .await
            .unwrap();
        Ok::<_, Infallible>(Response::new((carried, lost)))
    });
    let res = layer.layer(handler).oneshot(request(&[])).await.unwrap();
    assert_eq!(*res.body(), (true, false));
}

#[test]
fn builder_rejects_what_cannot_work() {
    let err = |b: buttress_context::server::ServerContextLayerBuilder| {
        b.build().unwrap_err().field().to_owned()
    };
    assert_eq!(
        err(ServerContextLayer::builder().configure(|c| c.max_deadline = Some(Duration::ZERO))),
        "max_deadline"
    );
    assert_eq!(
        err(ServerContextLayer::builder().configure(|c| c.default_deadline = Some(Duration::ZERO))),
        "default_deadline"
    );
    assert_eq!(
        err(ServerContextLayer::builder().configure(|c| c.max_fault_len = Some(0))),
        "max_fault_len"
    );
    assert_eq!(
        err(ServerContextLayer::builder().configure(|c| c.id_max_len = 0)),
        "id_max_len"
    );
    assert_eq!(
        err(ServerContextLayer::builder()
            .configure(|c| c.criticality_header = "x-request-id".into())),
        "id_header"
    );
    assert_eq!(
        err(ServerContextLayer::builder().configure(|c| c.deadline_header = "traceparent".into())),
        "deadline_header"
    );
}
