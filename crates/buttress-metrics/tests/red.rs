//! RED metrics: bounded labels, outcomes from the edge's rejections, and
//! cancellation.

mod support;

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress_core::{BoxError, Reason, Rejected};
use buttress_metrics::{RedLayer, RedSide};
use support::{Tally, label_values, recorder, sum};
use tower::{Layer, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn a_thousand_raw_urls_on_one_route_make_one_route_label() {
    let (recorder, snapshotter) = recorder();
    let red = RedLayer::builder().name("api").build().unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(red.clone());
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            for id in 0..1_000 {
                let request = http::Request::get(format!("/users/{id}?q={id}"))
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200);
            }
        })
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let routes = label_values(&tally.counts, "http.server.request.duration", "http.route");
    assert_eq!(routes.into_iter().collect::<Vec<_>>(), vec!["/users/{id}"]);
    assert_eq!(
        sum(
            &tally.counts,
            "http.server.request.duration",
            &["buttress.outcome=success", "http.response.status_code=200"]
        ),
        1_000.0
    );
    assert_eq!(
        sum(&tally.counts, "http.server.request.duration", &[]),
        1_000.0
    );
    assert_eq!(red.handle().route_labels(), 2, "the route and _OTHER");
}

/// Unknown methods, answered `UNIMPLEMENTED` (or 404), earn no label: a
/// scan leaves every slot free. (This test once expected 32 labels taken
/// by the scan; a label is now earned by an answer.)
#[test]
fn ten_thousand_unknown_grpc_paths_take_no_label() {
    let (recorder, snapshotter) = recorder();
    let red = RedLayer::builder()
        .configure(|c| c.route_cap = 32)
        .name("grpc")
        .build()
        .unwrap();
    let svc = red.layer(tower::service_fn(|req: http::Request<()>| async move {
        let mut response = http::Response::new(());
        if req.uri().path() == "/known.Service/Get" {
            return Ok::<_, Infallible>(response);
        }
        if req.uri().path().ends_with("404") {
            *response.status_mut() = http::StatusCode::NOT_FOUND;
        } else {
            response
                .headers_mut()
                .insert("grpc-status", "12".parse().unwrap());
        }
        Ok(response)
    }));
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            for n in 0..10_000 {
                let request = http::Request::post(format!("/scan.Service{n}/Probe{}", n % 3 * 202))
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                svc.clone().oneshot(request).await.unwrap();
            }
            let known = http::Request::post("/known.Service/Get")
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            svc.clone().oneshot(known).await.unwrap();
        })
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let methods = label_values(&tally.counts, "rpc.server.call.duration", "rpc.method");
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        vec!["_OTHER", "known.Service/Get"]
    );
    assert_eq!(red.handle().route_labels(), 2);
    assert_eq!(red.handle().route_label_bytes(), "known.Service/Get".len());
    assert_eq!(
        sum(&tally.counts, "rpc.server.call.duration", &[]),
        10_001.0
    );
    assert_eq!(
        sum(&tally.counts, "http.server.request.duration", &[]),
        0.0,
        "gRPC is recorded as RPC, not as HTTP POST"
    );
}

/// Methods that exist (answered `OK`) earn labels up to the cap; the byte
/// budget caps them too.
#[test]
fn grpc_methods_that_answer_stay_within_the_caps() {
    let (recorder, snapshotter) = recorder();
    let red = RedLayer::builder()
        .configure(|c| c.route_cap = 32)
        .name("grpc")
        .build()
        .unwrap();
    let svc = red.layer(tower::service_fn(|_req: http::Request<()>| async {
        let mut response = http::Response::new(());
        response
            .headers_mut()
            .insert("grpc-status", "0".parse().unwrap());
        Ok::<_, Infallible>(response)
    }));
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            for n in 0..10_000 {
                let request = http::Request::post(format!("/scan.Service{n}/Probe"))
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                svc.clone().oneshot(request).await.unwrap();
            }
        })
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let methods = label_values(&tally.counts, "rpc.server.call.duration", "rpc.method");
    assert_eq!(methods.len(), 33, "32 methods and _OTHER");
    assert!(methods.contains("_OTHER"));
    assert_eq!(red.handle().route_labels(), 33);
    assert_eq!(
        sum(&tally.counts, "rpc.server.call.duration", &[]),
        10_000.0
    );

    // A byte budget of 100 holds five 20-byte names (`rpc.method` has no
    // leading `/`); a name longer than `max_route_len` never gets a label.
    let tight = RedLayer::builder()
        .configure(|c| {
            c.route_cap = 32;
            c.max_route_len = 64;
            c.route_bytes = 100;
        })
        .name("tight")
        .build()
        .unwrap();
    let svc = tight.layer(tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let long = format!("/pkg.Service/{}", "M".repeat(60));
    runtime().block_on(async {
        let paths = (10..20).map(|n| format!("/scan.Service{n}/Probe"));
        for path in std::iter::once(long).chain(paths) {
            let request = http::Request::post(path)
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            svc.clone().oneshot(request).await.unwrap();
        }
    });
    assert_eq!(tight.handle().route_labels(), 6, "five names and _OTHER");
    assert_eq!(tight.handle().route_label_bytes(), 100);
}

#[test]
fn outcomes_come_from_the_edge_the_classifier_and_cancellation() {
    let (recorder, snapshotter) = recorder();
    // Built under the recorder, where its name is claimed.
    let red = metrics::with_local_recorder(&recorder, || {
        RedLayer::builder()
            .configure(|c| {
                c.side = RedSide::Client;
                c.route_cap = 0;
            })
            .name("payments")
            .build()
            .unwrap()
    });
    let svc = red.layer(tower::service_fn(|req: http::Request<()>| async move {
        match req.uri().path() {
            "/rejected-by-edge" => {
                let mut response = Rejected::new(Reason::Shed)
                    .to_http_response(buttress_core::answer::BodyFormat::Text);
                *response.body_mut() = bytes::Bytes::new();
                Ok(response.map(|_| ()))
            }
            "/rejected-error" => {
                Err::<http::Response<()>, BoxError>(Rejected::new(Reason::CircuitOpen).into())
            }
            "/transport" => Err("connection reset".into()),
            "/busy" => Ok(http::Response::builder().status(503).body(()).unwrap()),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(http::Response::new(()))
            }
            _ => Ok(http::Response::new(())),
        }
    }));
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            for path in [
                "/ok",
                "/rejected-by-edge",
                "/rejected-error",
                "/transport",
                "/busy",
            ] {
                let _ = svc
                    .clone()
                    .oneshot(http::Request::get(path).body(()).unwrap())
                    .await;
            }
            // A caller that gives up: counted as cancelled when dropped.
            let slow = svc
                .clone()
                .oneshot(http::Request::get("/slow").body(()).unwrap());
            assert!(
                tokio::time::timeout(Duration::from_millis(5), slow)
                    .await
                    .is_err()
            );
        })
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let count = |labels: &[&str]| sum(&tally.counts, "http.client.request.duration", labels);
    assert_eq!(count(&[]), 6.0);
    assert_eq!(count(&["buttress.outcome=success"]), 1.0);
    assert_eq!(
        count(&[
            "buttress.outcome=rejected",
            "error.type=shed",
            "http.response.status_code=503"
        ]),
        1.0
    );
    let refused = tally
        .counts
        .keys()
        .find(|k| k.contains("error.type=circuit_open"))
        .expect("the refusal's series");
    assert!(refused.contains("buttress.outcome=rejected"), "{refused}");
    assert!(!refused.contains("http.response.status_code"), "{refused}");
    assert_eq!(count(&["buttress.outcome=failure"]), 2.0);
    assert_eq!(count(&["error.type=_OTHER"]), 1.0, "the transport error");
    assert_eq!(count(&["error.type=503", "buttress.outcome=failure"]), 1.0);
    assert_eq!(
        count(&["buttress.outcome=cancelled", "error.type=cancelled"]),
        1.0
    );
    assert_eq!(
        count(&["buttress.outcome=success", "error.type"]),
        0.0,
        "a success has no error.type"
    );
    assert_eq!(
        tally
            .gauges
            .get("http.client.active_requests{buttress.name=payments,http.request.method=GET}"),
        Some(&0.0)
    );
}
