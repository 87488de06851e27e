//! (2) Metrics memory: route labels chosen by the client.
//!
//! Reproduced against an earlier Buttress: gRPC-typed requests
//! (`content-type: application/grpc`) to unknown 30 KB paths took the raw
//! path as their `http.route` label — 640 requests cost +443 MB RSS and
//! one `/metrics` scrape of 348 MB, and the 64 route slots stayed taken
//! for good, so the server's real methods were counted as `_OTHER`.
//!
//! Now a gRPC path is a route only if it is a method path
//! (`/package.Service/Method`) no longer than `max_route_len` (256 bytes by
//! default); a route read from the request earns a label only once it is
//! answered with something other than a 404, `UNIMPLEMENTED` or a
//! rejection; and all route labels together take at most `route_bytes`
//! (8 KiB by default), each held once by the layer.
//!
//! A real axum server on 127.0.0.1 behind the default server stack, its
//! `/metrics` rendered by metrics-exporter-prometheus as in
//! `examples/metrics_server.rs`. The recorder is this test's own, set as
//! the thread's default while the stack is built and served on a
//! current-thread runtime (the RED layer resolves its handles on the
//! thread that records), so other tests may install what they like.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use buttress::metrics::{LATENCY_BUCKETS, RedConfig};
use buttress::stack::ServerStack;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The server's one real gRPC method.
const METHOD: &str = "/pkg.Service/Method";
/// How many hostile requests, each with a distinct unknown path.
const ATTACK: usize = 10_000;
/// Each hostile path's length.
const PATH_LEN: usize = 30 * 1024;
/// The most `/metrics` may weigh after the attack.
const MAX_SCRAPE: usize = 1 << 20;

/// Answers like a gRPC server (tonic): the known method with `OK`,
/// anything else `UNIMPLEMENTED` (a trailers-only answer, status 200);
/// non-gRPC requests to unknown paths get axum's 404.
async fn grpc(request: Request<Body>) -> Response<Body> {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let status = match (grpc, request.uri().path() == METHOD) {
        (true, true) => "0",
        (true, false) => "12",
        (false, _) => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty())
                .unwrap();
        }
    };
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", status)
        .body(Body::empty())
        .unwrap()
}

fn recorder() -> (
    metrics_exporter_prometheus::PrometheusRecorder,
    PrometheusHandle,
) {
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), &LATENCY_BUCKETS)
        .expect("buckets are not empty")
        .build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

/// A distinct unknown path of [`PATH_LEN`] bytes: every other one a
/// well-formed (but unknown, and too long) method path, the rest not
/// method paths at all.
fn hostile_path(n: usize, padding: &str) -> String {
    let head = if n.is_multiple_of(2) {
        format!("/scan.S{n}/")
    } else {
        format!("/scan/{n}/x-y")
    };
    let mut path = String::with_capacity(PATH_LEN);
    path.push_str(&head);
    path.push_str(&padding[head.len()..]);
    path
}

/// The process's resident set in KiB, where Linux tells it: printed, not
/// asserted (other tests share the process).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn unknown_grpc_paths_take_no_route_labels() {
    let (recorder, prometheus) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let stack = ServerStack::new("hostile-metrics").build().unwrap();
        let red = stack.metrics().cloned().expect("metrics are on by default");
        let app = Router::new().fallback(grpc).layer(stack).route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let call = |path: String, grpc: bool| {
            let mut request = Request::post(format!("{base}{path}"));
            if grpc {
                request = request.header("content-type", "application/grpc");
            }
            let request = request.body(Body::empty()).unwrap();
            let client = client.clone();
            async move {
                let response = client.request(request).await.unwrap();
                let grpc_status = response.headers().get("grpc-status").cloned();
                let status = response.status();
                response.into_body().collect().await.unwrap();
                (status, grpc_status)
            }
        };

        let padding = "A".repeat(PATH_LEN);
        let rss_before = rss_kib();
        let started = Instant::now();
        // A few at a time over kept-alive connections.
        let mut in_flight = tokio::task::JoinSet::new();
        for n in 0..ATTACK {
            if in_flight.len() == 8 {
                in_flight.join_next().await.unwrap().unwrap();
            }
            in_flight.spawn(call(hostile_path(n, &padding), true));
        }
        // Short unknown method paths too: well-formed, within the length,
        // answered UNIMPLEMENTED — and a non-gRPC 404 scan.
        for n in 0..1_000_usize {
            if in_flight.len() == 8 {
                in_flight.join_next().await.unwrap().unwrap();
            }
            in_flight.spawn(call(format!("/scan.Service{n}/Probe"), n.is_multiple_of(2)));
        }
        while let Some(done) = in_flight.join_next().await {
            done.unwrap();
        }
        let attack = started.elapsed();
        let rss_growth = rss_kib()
            .zip(rss_before)
            .map(|(after, before)| format!("{} KiB", after.saturating_sub(before)));

        let config = RedConfig::default();
        assert_eq!(red.route_labels(), 1, "_OTHER only: the scan took no label");
        assert!(red.route_label_bytes() <= config.route_bytes);

        // The real method still gets its own label.
        let (status, grpc_status) = call(METHOD.into(), true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(grpc_status.unwrap(), "0");
        assert_eq!(red.route_labels(), 2);
        // `rpc.method` has no leading `/`.
        assert_eq!(red.route_label_bytes(), METHOD.len() - 1);

        let response = client
            .request(
                Request::get(format!("{base}/metrics"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let scrape = response.into_body().collect().await.unwrap().to_bytes();
        let scrape = std::str::from_utf8(&scrape).unwrap();
        eprintln!(
            "{ATTACK} unknown 30 KB gRPC paths in {attack:?}: /metrics {} bytes, \
             route labels {} bytes (cap {}), RSS growth {}",
            scrape.len(),
            red.route_label_bytes(),
            config.route_bytes,
            rss_growth.as_deref().unwrap_or("unknown"),
        );
        assert!(
            scrape.len() <= MAX_SCRAPE,
            "/metrics is {} bytes",
            scrape.len()
        );
        assert!(
            scrape.contains(&format!("rpc_method=\"{}\"", &METHOD[1..])),
            "the real method's label in:\n{scrape}"
        );
        assert!(!scrape.contains("AAAAAAAA"), "no hostile path in /metrics");
        // gRPC calls are RPCs, the non-gRPC scan HTTP: the requests are
        // their duration histograms' counts.
        let requests: f64 = scrape
            .lines()
            .filter(|l| {
                let name = l.split(['{', ' ']).next().unwrap_or_default();
                name.ends_with("_count")
                    && (name.starts_with("rpc_server_call_duration")
                        || name.starts_with("http_server_request_duration"))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(
            requests,
            (ATTACK + 1_000 + 1) as f64,
            "every request counted"
        );
        assert!(attack < Duration::from_secs(60));
    });
}
