//! The edge's answers, service by service, without a network.

use std::convert::Infallible;
use std::task::{Context, Poll};

use buttress::edge::EdgeLayer;
use buttress::{BoxError, Reason, Rejected};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};

type Response = http::Response<Full<Bytes>>;

fn failing(
    error: fn() -> BoxError,
) -> impl Service<http::Request<()>, Response = Response, Error = BoxError> + Clone {
    tower::service_fn(
        move |_req: http::Request<()>| async move { Err::<Response, BoxError>(error()) },
    )
}

fn grpc_request() -> http::Request<()> {
    http::Request::post("/pkg.Svc/Method")
        .header("content-type", "application/grpc+proto")
        .body(())
        .unwrap()
}

async fn body(res: http::Response<buttress::edge::EdgeBody<Full<Bytes>>>) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn every_reason_maps_to_its_http_status_and_grpc_code() {
    let expected = [
        (Reason::CircuitOpen, 503, "14"),
        (Reason::BulkheadFull, 503, "8"),
        (Reason::QueueTimeout, 503, "8"),
        (Reason::Overloaded, 503, "8"),
        (Reason::Shed, 503, "8"),
        (Reason::Throttled, 503, "14"),
        (Reason::RateLimited, 429, "8"),
        (Reason::Timeout, 504, "4"),
        (Reason::DeadlineExceeded, 504, "4"),
        (Reason::FaultInjected, 503, "14"),
        (Reason::NoEndpoint, 503, "14"),
    ];
    assert_eq!(expected.len(), Reason::ALL.len());
    for (reason, status, code) in expected {
        let svc = tower::service_fn(move |_req: http::Request<()>| async move {
            Err::<Response, BoxError>(Rejected::new(reason).into())
        });
        let http = EdgeLayer::new()
            .layer(svc)
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(http.status(), status, "{reason:?}");
        assert_eq!(
            http.extensions().get::<Rejected>().unwrap().reason(),
            reason
        );
        assert!(
            http.headers().get("retry-after").is_none(),
            "no hint, no header"
        );

        let grpc = EdgeLayer::new()
            .layer(svc)
            .oneshot(grpc_request())
            .await
            .unwrap();
        assert_eq!(grpc.status(), 200, "gRPC answers are trailers-only 200s");
        assert_eq!(grpc.headers()["grpc-status"], code, "{reason:?}");
        assert_eq!(grpc.headers()["content-type"], "application/grpc");
        assert!(body(grpc).await.is_empty());
    }
}

#[tokio::test]
async fn other_errors_answer_500_or_internal() {
    let svc = failing(|| "connection reset by peer".into());
    let http = EdgeLayer::new()
        .layer(svc.clone())
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(http.status(), 500);
    assert!(http.extensions().get::<Rejected>().is_none());
    assert_eq!(body(http).await.as_ref(), b"internal server error\n");

    let grpc = EdgeLayer::new()
        .layer(svc)
        .oneshot(grpc_request())
        .await
        .unwrap();
    assert_eq!(grpc.headers()["grpc-status"], "13");
}

#[tokio::test]
async fn a_panic_while_calling_or_polling_answers_500() {
    let panics_in_call = tower::service_fn(
        |_req: http::Request<()>| -> std::future::Ready<Result<Response, Infallible>> {
            panic!("bug in call")
        },
    );
    let res = EdgeLayer::new()
        .layer(panics_in_call)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 500);

    let panics_in_future = tower::service_fn(|_req: http::Request<()>| async {
        if true {
            panic!("bug in future");
        }
        Ok::<Response, Infallible>(http::Response::new(Full::default()))
    });
    let res = EdgeLayer::new()
        .layer(panics_in_future)
        .oneshot(grpc_request())
        .await
        .unwrap();
    assert_eq!(res.headers()["grpc-status"], "13");
}

/// A service whose readiness fails once.
#[derive(Clone, Default)]
struct NotReadyOnce {
    failed: bool,
}

impl Service<http::Request<()>> for NotReadyOnce {
    type Response = Response;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.failed {
            Poll::Ready(Ok(()))
        } else {
            self.failed = true;
            Poll::Ready(Err(Rejected::new(Reason::Overloaded).into()))
        }
    }

    fn call(&mut self, _req: http::Request<()>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Full::new(Bytes::from_static(
            b"served",
        )))))
    }
}

#[tokio::test]
async fn a_readiness_error_is_answered_by_the_call_not_by_poll_ready() {
    let mut edge = EdgeLayer::new().layer(NotReadyOnce::default());
    // poll_ready never fails: the error is answered in the response.
    let first = edge
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(first.status(), 503);
    assert_eq!(
        first.extensions().get::<Rejected>().unwrap().reason(),
        Reason::Overloaded
    );
    let second = edge
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(body(second).await.as_ref(), b"served");
}

#[tokio::test]
async fn successful_answers_pass_through_untouched() {
    let svc = tower::service_fn(|_req: http::Request<()>| async {
        let mut res = http::Response::new(Full::new(Bytes::from_static(b"payload")));
        *res.status_mut() = http::StatusCode::NOT_FOUND;
        res.headers_mut().insert("x-app", "1".parse().unwrap());
        Ok::<_, Infallible>(res)
    });
    let res = EdgeLayer::new()
        .layer(svc)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["x-app"], "1");
    assert!(!res.body().is_local());
    assert_eq!(body(res).await.as_ref(), b"payload");
}
