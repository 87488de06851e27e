//! Body replay: requests with streaming bodies are retried without
//! `Req: Clone`, up to the body limit (issue 7, "Done when").

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::layer::LayerBuilder;
use buttress_retry::{ReplayBody, RetryConfig, RetryLayer};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

/// A streamed body of unknown length, as a chunked upload arrives.
struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn new(total: usize, chunk: usize) -> Self {
        Chunks(
            (0..total / chunk)
                .map(|i| Bytes::from(vec![(i % 251) as u8; chunk]))
                .collect(),
        )
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[derive(Clone, Copy)]
enum Reads {
    /// Reads the whole body, then answers with the status.
    All(u16),
    /// Reads one chunk, then fails as a reset connection would.
    OneChunkThenReset,
    /// Fails before reading anything, as a refused connection would.
    NothingThenRefuse,
}

type Received = Arc<Mutex<Vec<Vec<u8>>>>;

#[allow(clippy::type_complexity)] // an `impl Service` with its future spelled out
fn dependency<B>(
    script: Vec<Reads>,
) -> (
    Received,
    impl tower::Service<
        Request<ReplayBody<B>>,
        Response = Response<()>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<()>, BoxError>> + Send,
    > + Clone
    + Send,
)
where
    B: Body + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let received: Received = Arc::default();
    let log = received.clone();
    let script = Arc::new(script);
    let svc = tower::service_fn(move |req: Request<ReplayBody<B>>| {
        let log = log.clone();
        let index = log.lock().unwrap().len();
        let reads = script[index.min(script.len() - 1)];
        log.lock().unwrap().push(Vec::new());
        async move {
            let mut body = req.into_body();
            match reads {
                Reads::All(status) => {
                    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
                    log.lock().unwrap()[index] = bytes.to_vec();
                    Ok(Response::builder().status(status).body(()).unwrap())
                }
                Reads::OneChunkThenReset => {
                    let frame = body.frame().await.unwrap().map_err(Into::into)?;
                    log.lock().unwrap()[index] = frame.into_data().unwrap().to_vec();
                    Err("connection reset".into())
                }
                Reads::NothingThenRefuse => Err("connection refused".into()),
            }
        }
    });
    (received, svc)
}

fn keyed<B>(body: B) -> Request<B> {
    Request::post("http://dep/uploads")
        .header("idempotency-key", "upload-17")
        .body(body)
        .unwrap()
}

/// The default layer (bodies up to 64 KiB replayed), its jitter seeded.
fn seeded() -> RetryLayer {
    RetryLayer::from_config(&RetryConfig {
        seed: Some(1),
        ..RetryConfig::default()
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_small_body_is_sent_again_intact() {
    let (received, dep) = dependency(vec![Reads::All(503), Reads::All(200)]);
    let svc = seeded().layer(dep);
    let res = svc
        .oneshot(keyed(Full::new(Bytes::from_static(b"hello"))))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        *received.lock().unwrap(),
        [b"hello".to_vec(), b"hello".to_vec()]
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_within_the_limit_is_replayed() {
    let (received, dep) = dependency(vec![Reads::All(503), Reads::All(200)]);
    let svc = seeded().layer(dep);
    let res = svc
        .oneshot(keyed(Chunks::new(64 << 10, 4 << 10)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].len(), 64 << 10);
    assert_eq!(received[0], received[1]);
}

#[tokio::test(start_paused = true)]
async fn a_1_mib_streamed_body_with_a_64_kib_limit_is_sent_once() {
    let (received, dep) = dependency(vec![Reads::All(503), Reads::All(200)]);
    let svc = RetryLayer::builder()
        .configure(|c| {
            c.body_limit = 64 << 10;
            c.seed = Some(1);
        })
        .build()
        .unwrap()
        .layer(dep);
    let res = svc
        .oneshot(keyed(Chunks::new(1 << 20, 16 << 10)))
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "the answer is returned as it is");
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1, "not retried");
    assert_eq!(received[0].len(), 1 << 20, "sent whole, once");
}

#[tokio::test(start_paused = true)]
async fn a_1_mib_body_of_known_length_is_sent_once_without_buffering() {
    let (received, dep) = dependency(vec![Reads::All(503), Reads::All(200)]);
    let svc = RetryLayer::builder()
        .configure(|c| {
            c.body_limit = 64 << 10;
            c.seed = Some(1);
        })
        .build()
        .unwrap()
        .layer(dep);
    let body = Full::new(Bytes::from(vec![9u8; 1 << 20]));
    let res = svc.oneshot(keyed(body)).await.unwrap();
    assert_eq!(res.status(), 503);
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].len(), 1 << 20);
}

#[tokio::test(start_paused = true)]
async fn a_body_never_read_is_sent_on_the_next_attempt() {
    let (received, dep) = dependency(vec![Reads::NothingThenRefuse, Reads::All(200)]);
    let svc = seeded().layer(dep);
    let res = svc
        .oneshot(keyed(Chunks::new(8 << 10, 1 << 10)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let received = received.lock().unwrap();
    assert_eq!(received[1].len(), 8 << 10);
}

#[tokio::test(start_paused = true)]
async fn a_body_read_in_part_is_replayed_then_resumed() {
    let (received, dep) = dependency(vec![Reads::OneChunkThenReset, Reads::All(200)]);
    let svc = seeded().layer(dep);
    let original = Chunks::new(8 << 10, 1 << 10);
    let expected: Vec<u8> = original.0.iter().flat_map(|c| c.to_vec()).collect();
    let res = svc.oneshot(keyed(original)).await.unwrap();
    assert_eq!(res.status(), 200);
    let received = received.lock().unwrap();
    assert_eq!(received[0].len(), 1 << 10);
    assert_eq!(received[1], expected);
}

#[tokio::test(start_paused = true)]
async fn an_empty_body_needs_no_buffer() {
    let (received, dep) = dependency(vec![Reads::All(503), Reads::All(200)]);
    let svc = seeded().layer(dep);
    let req = Request::get("http://dep/")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
    assert_eq!(received.lock().unwrap().len(), 2);
}
