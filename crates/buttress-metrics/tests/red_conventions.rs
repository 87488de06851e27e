//! RED metrics follow OpenTelemetry's conventions: a client's calls carry
//! `server.address` and `server.port`, gRPC is recorded as RPC with its
//! status from the trailers, fallback answers count as fallbacks, and two
//! layers of one name never merge.

mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::layer::LayerBuilder;
use buttress_core::telemetry::FallbackCause;
use buttress_core::{BoxError, Reason, Rejected};
use buttress_metrics::{RedLayer, RedSide};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use support::{Tally, label_values, recorder, sum};
use tower::{Layer, Service, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn client(name: &str) -> RedLayer {
    RedLayer::builder()
        .configure(|c| c.side = RedSide::Client)
        .name(name)
        .build()
        .unwrap()
}

#[test]
fn a_client_call_names_its_server_and_a_fallback_counts_as_one() {
    let (recorder, snapshotter) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let red = client("inventory");
    let svc = red.layer(tower::service_fn(|req: http::Request<()>| async move {
        let mut response = http::Response::new(());
        match req.uri().path() {
            "/degraded" => {
                response
                    .extensions_mut()
                    .insert(FallbackCause::Rejected(Reason::CircuitOpen));
            }
            "/missing" => *response.status_mut() = http::StatusCode::NOT_FOUND,
            _ => {}
        }
        Ok::<_, Infallible>(response)
    }));
    runtime().block_on(async {
        for uri in [
            "http://inventory.internal:8080/items/1",
            "http://inventory.internal:8080/degraded",
            "https://api.example.com/items",
            "http://inventory.internal:8080/missing",
            "/no-authority",
        ] {
            let request = http::Request::get(uri).body(()).unwrap();
            svc.clone().oneshot(request).await.unwrap();
        }
        // No URI authority: the `Host` header names the server.
        let hosted = http::Request::get("/by-host")
            .header("host", "user:secret@cache:11211")
            .body(())
            .unwrap();
        svc.clone().oneshot(hosted).await.unwrap();
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let family = "http.client.request.duration";
    let count = |labels: &[&str]| sum(&tally.counts, family, labels);
    assert_eq!(count(&[]), 6.0);
    let internal = ["server.address=inventory.internal", "server.port=8080"];
    assert_eq!(count(&internal), 3.0);
    assert_eq!(
        count(&["server.address=api.example.com", "server.port=443"]),
        1.0
    );
    assert_eq!(count(&["server.address=cache", "server.port=11211"]), 1.0);
    assert!(
        tally.counts.keys().all(|k| !k.contains("secret")),
        "user info is never a label"
    );
    assert_eq!(
        count(&["buttress.outcome=fallback", "http.response.status_code=200"]),
        1.0,
        "a fallback answer is no plain success"
    );
    assert_eq!(
        count(&["buttress.outcome=success"]),
        5.0,
        "a 404 is the caller's to judge"
    );
    assert_eq!(
        count(&["error.type=404"]),
        1.0,
        "a client's 4xx is an error type"
    );
    assert_eq!(red.handle().server_labels(), 4, "three servers and _OTHER");
    assert!(
        label_values(&tally.counts, family, "http.route").is_empty(),
        "http.route is a server's"
    );
}

/// One client service remembers the last server its calls named: calls
/// that alternate servers, repeat one, add user info or name none are each
/// labelled with their own server all the same.
#[test]
fn one_service_labels_each_call_with_its_own_server() {
    let (recorder, snapshotter) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let red = client("alternating");
    let mut svc = red.layer(tower::service_fn(|_: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let uris = [
        "http://a.internal:8080/1",
        "http://a.internal:8080/2",
        "http://b.internal:9090/1",
        "http://a.internal:8080/3",
        "http://user:secret@a.internal:8080/4",
        "/no-authority",
        "http://a.internal:8080/5",
        "http://a.internal:8081/6",
    ];
    runtime().block_on(async {
        for uri in uris {
            let request = http::Request::get(uri).body(()).unwrap();
            svc.ready().await.unwrap().call(request).await.unwrap();
        }
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let count = |labels: &[&str]| sum(&tally.counts, "http.client.request.duration", labels);
    assert_eq!(count(&[]), 8.0);
    assert_eq!(
        count(&["server.address=a.internal", "server.port=8080"]),
        5.0
    );
    assert_eq!(
        count(&["server.address=b.internal", "server.port=9090"]),
        1.0
    );
    assert_eq!(
        count(&["server.address=a.internal", "server.port=8081"]),
        1.0
    );
    assert!(tally.counts.keys().all(|k| !k.contains("secret")));
}

/// A gRPC answer streamed with its status in the trailers.
struct Streamed {
    trailers: Option<http::HeaderMap>,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

#[test]
fn grpc_is_recorded_as_rpc_with_the_status_of_its_trailers() {
    let (recorder, snapshotter) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = RedLayer::builder().name("grpc-server").build().unwrap();
    let svc = server.layer(tower::service_fn(|req: http::Request<()>| async move {
        let mut trailers = http::HeaderMap::new();
        let code = if req.uri().path().ends_with("Fail") {
            "14"
        } else {
            "0"
        };
        trailers.insert("grpc-status", code.parse().unwrap());
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(Streamed {
                trailers: Some(trailers),
            })
            .unwrap();
        Ok::<_, Infallible>(response)
    }));
    let client = client("grpc-client");
    let refused = client.layer(tower::service_fn(|_req: http::Request<()>| async {
        Err::<http::Response<()>, BoxError>(Rejected::new(Reason::CircuitOpen).into())
    }));
    let grpc = |path: &str| {
        http::Request::post(format!("http://orders:50051{path}"))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    };
    runtime().block_on(async {
        for path in ["/shop.Orders/Get", "/shop.Orders/Get", "/shop.Orders/Fail"] {
            let response = svc.clone().oneshot(grpc(path)).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
        assert!(
            refused
                .clone()
                .oneshot(grpc("/shop.Orders/Get"))
                .await
                .is_err()
        );
    });
    let mut tally = Tally::default();
    tally.update(&snapshotter);
    let server = |labels: &[&str]| sum(&tally.counts, "rpc.server.call.duration", labels);
    let get = ["rpc.system.name=grpc", "rpc.method=shop.Orders/Get"];
    assert_eq!(
        server(&[
            get[0],
            get[1],
            "rpc.response.status_code=OK",
            "buttress.outcome=success"
        ]),
        2.0
    );
    assert_eq!(
        server(&[
            "rpc.method=shop.Orders/Fail",
            "rpc.response.status_code=UNAVAILABLE",
            "error.type=UNAVAILABLE",
            "buttress.outcome=failure"
        ]),
        1.0
    );
    assert_eq!(
        sum(&tally.counts, "http.server.request.duration", &[]),
        0.0,
        "never as HTTP POST"
    );
    assert_eq!(
        sum(
            &tally.counts,
            "rpc.client.call.duration",
            &[
                "server.address=orders",
                "server.port=50051",
                "rpc.response.status_code=UNAVAILABLE",
                "error.type=circuit_open",
                "buttress.outcome=rejected"
            ]
        ),
        1.0,
        "the code the caller is given, and the reason"
    );
    assert_eq!(
        tally.gauges.get(
            "buttress.rpc.server.active_calls{buttress.name=grpc-server,rpc.system.name=grpc}"
        ),
        Some(&0.0)
    );
}

#[test]
fn two_live_layers_of_one_name_never_merge() {
    let (recorder, snapshotter) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let first = RedLayer::builder().name("shop").build().unwrap();
    let second = RedLayer::builder().name("shop").build().unwrap();
    let other_side = client("shop");
    assert_eq!(first.handle().series_name(), "shop");
    assert_eq!(second.handle().series_name(), "shop#2");
    assert_eq!(other_side.handle().series_name(), "shop", "another family");
    let ok = tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    });
    runtime().block_on(async {
        for layer in [&first, &second, &second] {
            layer
                .layer(ok)
                .oneshot(http::Request::new(()))
                .await
                .unwrap();
        }
    });
    let values = support::values(&snapshotter);
    let family = "http.server.request.duration";
    assert_eq!(sum(&values, family, &["buttress.name=shop,"]), 1.0);
    assert_eq!(sum(&values, family, &["buttress.name=shop#2"]), 2.0);
    drop(first);
    let again = RedLayer::builder().name("shop").build().unwrap();
    assert_eq!(
        again.handle().series_name(),
        "shop",
        "a rebuilt layer continues"
    );
}
