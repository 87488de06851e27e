//! (12) Unbounded replay memory across requests.
//!
//! Reproduced against an earlier Buttress: with `body_limit` at its
//! documented maximum (16 MiB), 200 concurrent 1 MiB uploads through a
//! client stack held +199 MiB — every body was kept for replay, each
//! within the per-request limit, none bounded in total.
//!
//! Now a retry layer keeps at most `replay_memory` bytes (default 64 MiB)
//! across all its requests and clones: a body that would take the total
//! past it is sent once, not buffered (and not retried), and bytes are
//! given back when their request ends. Real loopback sockets: a default
//! client stack (its bulkhead off, so that all 200 uploads are in flight
//! at once) over hyper-util's client, against a dependency that reads each
//! upload whole and then takes its time to answer.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::routing::put;
use buttress::retry::{DEFAULT_REPLAY_MEMORY, MAX_BODY_LIMIT, ReplayBody, RetryConfig};
use buttress::stack::{ClientStack, Toggle};
use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

const UPLOADS: usize = 200;
const UPLOAD: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

/// An upload of [`UPLOAD`] bytes streamed in chunks, its length unknown
/// in advance (no content-length to refuse it by).
struct Upload {
    left: usize,
    chunk: Bytes,
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let len = self.left.min(CHUNK);
        self.left -= len;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..len)))))
    }
}

/// Uploads received, by id: how many times, and their sizes.
type Arrivals = Arc<Mutex<HashMap<String, Vec<usize>>>>;

/// The slow dependency: reads each upload whole, then answers 300 ms
/// later.
async fn dependency(arrivals: Arrivals) -> String {
    let app = Router::new().route(
        "/upload",
        put(move |headers: HeaderMap, body: Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let id = headers["x-upload"].to_str().unwrap().to_owned();
                arrivals
                    .lock()
                    .unwrap()
                    .entry(id)
                    .or_default()
                    .push(body.len());
                tokio::time::sleep(Duration::from_millis(300)).await;
                "stored"
            }
        }),
    );
    let app = app.layer(axum::extract::DefaultBodyLimit::max(2 * UPLOAD));
    let addr = crate::support::serve_app(app).await;
    format!("http://{addr}/upload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_never_hold_more_replay_memory_than_the_cap() {
    let arrivals = Arrivals::default();
    let url = dependency(arrivals.clone()).await;

    let retry = RetryConfig {
        body_limit: MAX_BODY_LIMIT,
        ..RetryConfig::default()
    };
    assert_eq!(retry.replay_memory, DEFAULT_REPLAY_MEMORY);
    let stack = ClientStack::new("hostile-replay-memory")
        .retry(retry)
        .bulkhead(Toggle::Off)
        .build()
        .unwrap();
    let handle = stack.retry().clone();
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Upload>>();
    let client = stack.layer(transport);

    // Samples what the layer holds for replay while the uploads run.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak, handle) = (done.clone(), peak.clone(), handle.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(handle.replay_buffered(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };

    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let mut uploads = tokio::task::JoinSet::new();
    for id in 0..UPLOADS {
        let request = http::Request::put(&url)
            .header("x-upload", id.to_string())
            .body(Upload {
                left: UPLOAD,
                chunk: chunk.clone(),
            })
            .unwrap();
        let client = client.clone();
        uploads.spawn(async move {
            let response = client.oneshot(request).await.unwrap();
            response.status()
        });
    }
    while let Some(status) = uploads.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    let peak = peak.load(Ordering::Relaxed);
    println!(
        "replay memory: peak {} KiB of a {} KiB cap for {UPLOADS} concurrent {} KiB uploads",
        peak >> 10,
        DEFAULT_REPLAY_MEMORY >> 10,
        UPLOAD >> 10
    );
    // Bounded by the cap, and the cap was reached: past it, uploads were
    // sent without being buffered.
    assert!(peak <= DEFAULT_REPLAY_MEMORY, "peak {peak}");
    assert!(peak >= DEFAULT_REPLAY_MEMORY / 2, "peak {peak}");
    // Every byte is given back once its request ends.
    assert_eq!(handle.replay_buffered(), 0);
    // Every upload arrived once, whole.
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), UPLOADS);
    for (id, sizes) in arrivals.iter() {
        assert_eq!(sizes, &[UPLOAD], "upload {id}");
    }
}
