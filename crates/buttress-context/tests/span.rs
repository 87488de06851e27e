//! The server layer runs each request in a `tracing` span carrying its
//! ID. Alone in its binary: `tracing` caches per-callsite interest, and a
//! test without a subscriber racing this one could cache "never".

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use buttress_context::ServerContextLayer;
use buttress_core::TrustPolicy;
use http::{Request, Response};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn the_request_runs_in_a_span_carrying_the_id() {
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let layer = ServerContextLayer::internal(TrustPolicy::always());
    let handler = tower::service_fn(|_req: Request<()>| async {
        tracing::info!("handled");
        Ok::<_, Infallible>(Response::new(()))
    });
    layer
        .layer(handler)
        .oneshot(
            Request::get("/")
                .header("x-request-id", "span-42")
                .body(())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("request{request_id=span-42}"), "{text}");
    assert!(text.contains("handled"), "{text}");
}
