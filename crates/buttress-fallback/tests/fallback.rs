//! The fallback layer's behaviour, on tokio's paused clock.

use buttress_core::layer::LayerBuilder;
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_core::telemetry::{Event, FallbackCause, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};

use buttress_fallback::{Failure, FallbackLayer, FallbackLayerBuilder, StaleConfig};

/// A dependency scripted per request by its `x-script` header:
/// `200:<body>`, `<status>`, `reject:<reason>`, `sent:<reason>` or `error`.
fn dependency()
-> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
+ Clone {
    tower::service_fn(|req: Request<()>| async move {
        let script = req.headers()["x-script"].to_str().unwrap().to_owned();
        if let Some(body) = script.strip_prefix("200:") {
            return Ok(Response::builder()
                .header("content-type", "application/json")
                .header("transfer-encoding", "chunked")
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap());
        }
        let reason = |name: &str| {
            Reason::ALL
                .into_iter()
                .find(|r| r.as_str() == name)
                .unwrap()
        };
        if let Some(name) = script.strip_prefix("reject:") {
            return Err(Rejected::new(reason(name)).into());
        }
        if let Some(name) = script.strip_prefix("sent:") {
            return Err(Rejected::new(reason(name)).sent().into());
        }
        if script == "error" {
            return Err("connection reset".into());
        }
        let status: u16 = script.parse().unwrap();
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"real")))
            .unwrap())
    })
}

fn get(script: &str) -> Request<()> {
    request(Method::GET, "/items?n=5", script)
}

fn request(method: Method, uri: &str, script: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-script", script)
        .body(())
        .unwrap()
}

async fn body<B>(res: Response<B>) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    res.into_body().collect().await.unwrap().to_bytes()
}

fn fixed(sink: &RecordingSink) -> FallbackLayer {
    FallbackLayer::builder()
        .name("recs")
        .respond_with(Response::new("[]"))
        .sink(sink.clone())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failing_answer_is_replaced_marked_and_reported() {
    let sink = RecordingSink::new();
    let svc = fixed(&sink).layer(dependency());
    let res = svc.clone().oneshot(get("503")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-fallback"], "failure");
    assert_eq!(
        res.extensions().get::<FallbackCause>(),
        Some(&FallbackCause::Failure)
    );
    assert!(res.body().is_local());
    assert_eq!(body(res).await, "[]");
    assert_eq!(
        sink.events_for("recs"),
        vec![Event::FallbackServed(FallbackCause::Failure)]
    );

    // A good answer and a caller's mistake pass through, unmarked.
    for (script, status) in [("200:ok", 200), ("404", 404)] {
        let res = svc.clone().oneshot(get(script)).await.unwrap();
        assert_eq!(res.status(), status);
        assert!(res.headers().get("x-fallback").is_none());
        assert!(!res.body().is_local());
    }
    assert_eq!(sink.events_for("recs").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rejections_and_transport_errors_get_a_fallback_named_by_cause() {
    let sink = RecordingSink::new();
    let svc = fixed(&sink).layer(dependency());
    for (script, marker, cause) in [
        (
            "reject:circuit_open",
            "circuit-open",
            FallbackCause::Rejected(Reason::CircuitOpen),
        ),
        (
            "reject:bulkhead_full",
            "bulkhead-full",
            FallbackCause::Rejected(Reason::BulkheadFull),
        ),
        (
            "sent:fault_injected",
            "fault-injected",
            FallbackCause::Rejected(Reason::FaultInjected),
        ),
        (
            "sent:deadline_exceeded",
            "deadline-exceeded",
            FallbackCause::Rejected(Reason::DeadlineExceeded),
        ),
        ("error", "failure", FallbackCause::Failure),
    ] {
        let res = svc.clone().oneshot(get(script)).await.unwrap();
        assert_eq!(res.headers()["x-fallback"], marker, "{script}");
        assert_eq!(res.extensions().get::<FallbackCause>(), Some(&cause));
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejection_outside_the_reason_set_passes_through() {
    let layer = FallbackLayer::builder()
        .name("recs")
        .configure(|c| c.reasons = Some(vec![Reason::CircuitOpen]))
        .respond_with(Response::new("[]"))
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    let err = svc
        .clone()
        .oneshot(get("reject:rate_limited"))
        .await
        .unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::RateLimited);
    let res = svc.oneshot(get("reject:circuit_open")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "circuit-open");
}

#[tokio::test(start_paused = true)]
async fn writes_never_get_a_made_up_answer_by_default() {
    let sink = RecordingSink::new();
    let svc = fixed(&sink).layer(dependency());
    let res = svc
        .clone()
        .oneshot(request(Method::POST, "/orders", "503"))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(body(res).await, "real");
    let err = svc
        .clone()
        .oneshot(request(Method::PUT, "/orders", "error"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connection reset");
    let res = svc
        .oneshot(request(Method::HEAD, "/items", "503"))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-fallback"], "failure");
    assert!(sink.events_for("recs").len() == 1);

    let any = FallbackLayer::builder()
        .name("recs")
        .configure(|c| c.any_method = true)
        .respond_with(Response::new("accepted later"))
        .build()
        .unwrap()
        .layer(dependency());
    let res = any
        .oneshot(request(Method::POST, "/orders", "503"))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-fallback"], "failure");
}

#[tokio::test(start_paused = true)]
async fn a_function_builds_the_answer_from_the_head_and_the_failure() {
    let layer = FallbackLayer::builder()
        .name("profile")
        .respond_fn(|head: &http::request::Parts, failure: &Failure<'_>| {
            let reason = failure
                .rejected()
                .map_or("none", |rejected| rejected.reason().as_str());
            let status = failure
                .response_status()
                .map_or(0, |status| status.as_u16());
            let text = format!("{} {} {reason} {status}", head.method, head.uri);
            Response::builder()
                .status(203)
                .body(Bytes::from(text))
                .unwrap()
        })
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    let res = svc.clone().oneshot(get("502")).await.unwrap();
    assert_eq!(res.status(), 203);
    assert_eq!(body(res).await, "GET /items?n=5 none 502");
    let res = svc.oneshot(get("sent:timeout")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "timeout");
    assert_eq!(body(res).await, "GET /items?n=5 timeout 0");
}

#[tokio::test(start_paused = true)]
async fn the_last_good_answer_is_served_stale_until_its_max_age() {
    let sink = RecordingSink::new();
    let layer = FallbackLayer::builder()
        .configure(|c| {
            c.stale = Some(StaleConfig {
                refresh: Some(Duration::ZERO),
                ..StaleConfig::new(Duration::from_secs(60))
            })
        })
        .name("recs")
        .sink(sink.clone())
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    // No good answer yet, and nothing else to answer with: the failure stands.
    let res = svc.clone().oneshot(get("503")).await.unwrap();
    assert_eq!(res.status(), 503);

    let res = svc.clone().oneshot(get("200:[1,2,3]")).await.unwrap();
    assert_eq!(body(res).await, "[1,2,3]", "recorded as it streams by");
    assert_eq!(layer.handle().stale_keys(), 1);

    tokio::time::advance(Duration::from_secs(42)).await;
    let res = svc
        .clone()
        .oneshot(get("reject:circuit_open"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-fallback"], "circuit-open");
    assert_eq!(res.headers()["age"], "42");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(
        res.headers().get("transfer-encoding").is_none(),
        "hop-by-hop headers are not kept"
    );
    assert_eq!(body(res).await, "[1,2,3]");

    // Another key has no good answer.
    let other = request(Method::GET, "/items?n=6", "503");
    assert_eq!(svc.clone().oneshot(other).await.unwrap().status(), 503);

    tokio::time::advance(Duration::from_secs(18)).await;
    let res = svc.oneshot(get("503")).await.unwrap();
    assert_eq!(res.status(), 503, "too old to serve");
    assert_eq!(sink.events_for("recs").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stale_answer_comes_before_the_fixed_one_which_covers_unseen_keys() {
    let layer = FallbackLayer::builder()
        .configure(|c| c.stale = Some(StaleConfig::new(Duration::from_secs(60))))
        .name("recs")
        .respond_with(Response::new("[]"))
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    svc.clone()
        .oneshot(get("200:[7]"))
        .await
        .map(body)
        .unwrap()
        .await;
    let res = svc.clone().oneshot(get("503")).await.unwrap();
    assert!(res.headers().contains_key("age"));
    assert_eq!(body(res).await, "[7]");
    let res = svc
        .oneshot(request(Method::GET, "/unseen", "503"))
        .await
        .unwrap();
    assert!(!res.headers().contains_key("age"));
    assert_eq!(body(res).await, "[]");
}

#[tokio::test(start_paused = true)]
async fn a_key_is_refreshed_at_most_once_per_interval() {
    let layer = FallbackLayer::builder()
        .configure(|c| {
            c.stale = Some(StaleConfig {
                refresh: Some(Duration::from_secs(5)),
                ..StaleConfig::new(Duration::from_secs(60))
            })
        })
        .name("recs")
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    let stale = || async { body(svc.clone().oneshot(get("503")).await.unwrap()).await };
    body(svc.clone().oneshot(get("200:v1")).await.unwrap()).await;
    body(svc.clone().oneshot(get("200:v2")).await.unwrap()).await;
    assert_eq!(stale().await, "v1", "v2 came within the refresh interval");
    tokio::time::advance(Duration::from_secs(5)).await;
    body(svc.clone().oneshot(get("200:v3")).await.unwrap()).await;
    assert_eq!(stale().await, "v3");
}

#[tokio::test(start_paused = true)]
async fn the_stale_cache_is_bounded_in_body_size_and_keys() {
    let layer = FallbackLayer::builder()
        .configure(|c| {
            c.stale = Some(StaleConfig {
                max_body: 8,
                capacity: 2,
                ..StaleConfig::new(Duration::from_secs(60))
            })
        })
        .name("recs")
        .build()
        .unwrap();
    let svc = layer.layer(dependency());
    let big = request(Method::GET, "/big", "200:0123456789");
    assert_eq!(
        body(svc.clone().oneshot(big).await.unwrap()).await,
        "0123456789"
    );
    assert_eq!(
        layer.handle().stale_keys(),
        0,
        "over the body cap: passed on, not kept"
    );

    for path in ["/a", "/b", "/c"] {
        let req = request(Method::GET, path, "200:x");
        body(svc.clone().oneshot(req).await.unwrap()).await;
    }
    assert_eq!(
        layer.handle().stale_keys(),
        2,
        "full of fresh answers: /c not kept"
    );
    let res = svc
        .clone()
        .oneshot(request(Method::GET, "/a", "503"))
        .await
        .unwrap();
    assert_eq!(body(res).await, "x");

    // Once the kept answers expire they make room.
    tokio::time::advance(Duration::from_secs(61)).await;
    let req = request(Method::GET, "/c", "200:y");
    body(svc.clone().oneshot(req).await.unwrap()).await;
    assert_eq!(layer.handle().stale_keys(), 1);
    let res = svc
        .oneshot(request(Method::GET, "/c", "503"))
        .await
        .unwrap();
    assert_eq!(body(res).await, "y");
}

#[tokio::test(start_paused = true)]
async fn every_service_of_one_layer_shares_its_cache() {
    let layer = FallbackLayer::builder()
        .configure(|c| c.stale = Some(StaleConfig::new(Duration::from_secs(60))))
        .name("recs")
        .build()
        .unwrap();
    // As axum does: a fresh service per request.
    let first = layer.layer(dependency());
    body(first.oneshot(get("200:shared")).await.unwrap()).await;
    let second = layer.clone().layer(dependency());
    let res = second.oneshot(get("503")).await.unwrap();
    assert_eq!(body(res).await, "shared");
}

#[tokio::test(start_paused = true)]
async fn the_marker_header_is_configurable() {
    let named = FallbackLayer::builder()
        .name("recs")
        .configure(|c| c.marker_header = "x-degraded".into())
        .respond_with(Response::new("[]"))
        .build()
        .unwrap()
        .layer(dependency());
    let res = named.oneshot(get("503")).await.unwrap();
    assert_eq!(res.headers()["x-degraded"], "failure");
    assert!(res.headers().get("x-fallback").is_none());

    let unmarked = FallbackLayer::builder()
        .name("recs")
        .configure(|c| c.mark = false)
        .respond_with(Response::new("[]"))
        .build()
        .unwrap()
        .layer(dependency());
    let res = unmarked.oneshot(get("503")).await.unwrap();
    assert!(res.headers().get("x-fallback").is_none());
    assert!(res.extensions().get::<FallbackCause>().is_some());
}

/// A service whose readiness fails with a rejection.
#[derive(Clone)]
struct NotReady;

impl Service<Request<()>> for NotReady {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err(Rejected::new(Reason::Overloaded).into()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_is_answered_by_the_next_call() {
    let svc = FallbackLayer::builder()
        .name("recs")
        .respond_with(Response::new("[]"))
        .build()
        .unwrap()
        .layer(NotReady);
    let res = svc.clone().oneshot(get("unused")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "overloaded");
    let err = svc
        .oneshot(request(Method::POST, "/", "unused"))
        .await
        .unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Overloaded);
}

#[test]
fn builds_validate() {
    let field = |builder: FallbackLayerBuilder| builder.build().unwrap_err().field().to_owned();
    assert_eq!(field(FallbackLayer::builder().name("x")), "response");
    let answer = || {
        FallbackLayer::builder()
            .name("x")
            .respond_with(Response::new(""))
    };
    assert_eq!(field(answer().configure(|c| c.methods = vec![])), "methods");
    // A stale section without a max age: it has no default.
    let no_max_age = StaleConfig {
        capacity: 10,
        ..StaleConfig::default()
    };
    assert_eq!(
        field(answer().configure(|c| c.stale = Some(no_max_age))),
        "stale.max_age"
    );
    let stale = |change: fn(&mut StaleConfig)| {
        let mut stale = StaleConfig::new(Duration::from_secs(10));
        change(&mut stale);
        FallbackLayer::builder()
            .name("x")
            .configure(|c| c.stale = Some(stale))
    };
    assert_eq!(field(stale(|s| s.capacity = 0)), "stale.capacity");
    assert_eq!(field(stale(|s| s.max_body = 0)), "stale.max_body");
    assert_eq!(
        field(stale(|s| s.max_bytes = s.max_body - 1)),
        "stale.max_bytes"
    );
    assert_eq!(
        field(stale(|s| s.refresh = Some(Duration::from_secs(11)))),
        "stale.refresh"
    );
    assert!(stale(|_| {}).stale_key(|_| None).build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_config_builds_the_same_layer_as_the_builder() {
    use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
    use buttress_fallback::{FallbackConfig, FallbackResponse};

    let sink = RecordingSink::new();
    let config = FallbackConfig {
        response: Some(FallbackResponse::new("application/json", "[]")),
        reasons: Some(vec![Reason::CircuitOpen]),
        ..FallbackConfig::default()
    };
    // Unnamed, it takes the environment's name.
    let layer = config
        .build_in(&BuildEnv::named("recs").with_sink(sink.clone()))
        .unwrap();
    assert_eq!(layer.handle().id().name(), "recs");
    let svc = layer.layer(dependency());
    let res = svc.clone().oneshot(get("503")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "failure");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body(res).await, "[]");
    let err = svc.oneshot(get("reject:rate_limited")).await.unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::RateLimited);
    assert_eq!(sink.events_for("recs").len(), 1);

    // The builder from the same config, and the defaults' names.
    let built = FallbackLayer::builder()
        .with_config(config.clone())
        .build()
        .unwrap();
    assert_eq!(built.handle().id().name(), "fallback");
    assert_eq!(
        FallbackLayer::from_config(&FallbackConfig::default())
            .unwrap_err()
            .field(),
        "response"
    );
}

#[tokio::test(start_paused = true)]
async fn a_grpc_status_is_judged_by_the_default_classifier_and_a_custom_one_decides() {
    use buttress_core::classify::AnyErrorFails;

    let grpc_unavailable = || {
        tower::service_fn(|_req: Request<()>| async {
            Ok::<_, BoxError>(
                Response::builder()
                    .header("grpc-status", "14")
                    .body(Full::new(Bytes::from_static(b"")))
                    .unwrap(),
            )
        })
    };
    let svc = FallbackLayer::builder()
        .respond_with(Response::new("[]"))
        .build()
        .unwrap()
        .layer(grpc_unavailable());
    let res = svc.oneshot(get("unused")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "failure");

    // Judged only by errors, a 503 answer passes through; an error does not.
    let svc = FallbackLayer::builder()
        .respond_with(Response::new("[]"))
        .classifier(AnyErrorFails)
        .build()
        .unwrap()
        .layer(dependency());
    let res = svc.clone().oneshot(get("503")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(!res.body().is_local());
    let res = svc.oneshot(get("error")).await.unwrap();
    assert_eq!(res.headers()["x-fallback"], "failure");
}

#[tokio::test(start_paused = true)]
async fn a_toml_config_serves_stale_then_its_fixed_answer() {
    use buttress_fallback::FallbackConfig;

    let config: FallbackConfig = toml::from_str(
        r#"
        name = "recs"
        methods = ["GET", "POST"]
        marker_header = "x-degraded"
        [response]
        status = 203
        content_type = "application/json"
        body = "[]"
        [stale]
        max_age = "1m"
        refresh = "0s"
        capacity = 10
        "#,
    )
    .unwrap();
    let layer = FallbackLayer::from_config(&config).unwrap();
    let svc = layer.layer(dependency());
    body(
        svc.clone()
            .oneshot(request(Method::POST, "/items", "200:[1]"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(layer.handle().stale_keys(), 1);
    let res = svc
        .clone()
        .oneshot(request(Method::POST, "/items", "503"))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-degraded"], "failure");
    assert_eq!(body(res).await, "[1]");
    let res = svc.oneshot(get("503")).await.unwrap();
    assert_eq!(res.status(), 203);
    assert_eq!(body(res).await, "[]");

    for (bad, field) in [
        ("reasons = [\"circuit_opened\"]", "reason"),
        ("methods = [\"GE T\"]", "method"),
        ("[stale]\nmax_age = 5", "max_age"),
    ] {
        let err = toml::from_str::<FallbackConfig>(bad).unwrap_err();
        assert!(err.to_string().contains(field), "{bad}: {err}");
    }
}

/// A dependency answering every request 200 with a two-byte body and
/// `headers` headers of `value_len` bytes each.
fn heavy_headers(
    headers: usize,
    value_len: usize,
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
+ Clone {
    tower::service_fn(move |req: Request<()>| async move {
        if req.headers().contains_key("x-fail") {
            return Err::<Response<Full<Bytes>>, BoxError>("connection reset".into());
        }
        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
        let value = http::HeaderValue::from_str(&"v".repeat(value_len)).unwrap();
        for i in 0..headers {
            let name = http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap();
            res.headers_mut().insert(name, value.clone());
        }
        Ok(res)
    })
}

#[tokio::test(start_paused = true)]
async fn keys_and_headers_count_against_the_stale_byte_budget() {
    const BUDGET: usize = 1 << 20;
    let layer = FallbackLayer::builder()
        .configure(|c| {
            c.stale = Some(StaleConfig {
                capacity: 1_000,
                max_bytes: BUDGET,
                ..StaleConfig::new(Duration::from_secs(60))
            })
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    // 32 headers of 1 KiB and a 4 KiB URI around a two-byte body: the
    // body cap never sees them.
    let svc = layer.layer(heavy_headers(32, 1_024));
    let uri = |i: usize| format!("/items/{i}?pad={}", "p".repeat(4_096));
    for i in 0..100 {
        body(
            svc.clone()
                .oneshot(request(Method::GET, &uri(i), ""))
                .await
                .unwrap(),
        )
        .await;
        assert!(
            handle.stale_bytes() <= BUDGET,
            "{} bytes",
            handle.stale_bytes()
        );
    }
    let (keys, bytes) = (handle.stale_keys(), handle.stale_bytes());
    // What the entries hold, raw: at least this much is charged for each.
    let raw = uri(0).len() + "GET ".len() + 32 * (1_024 + "x-h00".len()) + 2;
    assert!(keys > 0 && keys < 100, "{keys} keys kept");
    assert!(bytes >= keys * raw, "{bytes} bytes for {keys} keys");
    assert!(bytes + raw > BUDGET, "filled to the budget: {bytes}");

    // A kept answer is served; one never kept falls through.
    let mut failing = request(Method::GET, &uri(0), "");
    failing.headers_mut().insert("x-fail", "1".parse().unwrap());
    let res = svc.clone().oneshot(failing).await.unwrap();
    assert_eq!(res.headers()["x-h31"].len(), 1_024);
    let mut failing = request(Method::GET, &uri(99), "");
    failing.headers_mut().insert("x-fail", "1".parse().unwrap());
    assert!(svc.clone().oneshot(failing).await.is_err());

    // Expired answers give their bytes back, and make room again.
    tokio::time::advance(Duration::from_secs(61)).await;
    body(
        svc.clone()
            .oneshot(request(Method::GET, &uri(100), ""))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(handle.stale_keys(), 1);
    // One entry's charge (its URI a digit longer than most).
    let one = handle.stale_bytes();
    assert!(one >= raw && one <= bytes / keys + 4, "{one} for one entry");
}

#[tokio::test(start_paused = true)]
async fn an_answer_larger_than_the_whole_byte_budget_is_never_kept() {
    let layer = FallbackLayer::builder()
        .configure(|c| {
            c.stale = Some(StaleConfig {
                max_body: 1_024,
                max_bytes: 16 * 1_024,
                ..StaleConfig::new(Duration::from_secs(60))
            })
        })
        .build()
        .unwrap();
    let svc = layer.layer(heavy_headers(4, 8 * 1_024));
    body(svc.clone().oneshot(get("")).await.unwrap()).await;
    assert_eq!(
        (layer.handle().stale_keys(), layer.handle().stale_bytes()),
        (0, 0)
    );
    let svc = layer.layer(heavy_headers(1, 1_024));
    body(svc.oneshot(get("")).await.unwrap()).await;
    assert_eq!(layer.handle().stale_keys(), 1);
}
