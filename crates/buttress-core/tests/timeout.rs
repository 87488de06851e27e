//! The timeout layer on paused time: the right instant, the right reason,
//! and the inner future dropped.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_core::classify::{Classify, HttpClassifier, Outcome};
use buttress_core::layer::LayerBuilder;
use buttress_core::telemetry::{Event, RecordingSink};
use buttress_core::timeout::TimeoutLayer;
use buttress_core::{BoxError, Reason, Rejected, RequestContext};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// A dependency that answers after `delay`, counting calls and noting when
/// its in-flight future is dropped.
#[derive(Clone)]
struct Slow {
    delay: Duration,
    calls: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Slow {
    fn new(delay: Duration) -> Self {
        Slow {
            delay,
            calls: Arc::default(),
            dropped: Arc::default(),
        }
    }
}

impl<B> Service<http::Request<B>> for Slow {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<()>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: http::Request<B>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay;
        let flag = DropFlag(self.dropped.clone());
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            std::mem::forget(flag); // finished normally: not a drop mid-flight
            Ok(http::Response::new(()))
        })
    }
}

fn layer(limit: Duration, sink: &RecordingSink) -> TimeoutLayer {
    TimeoutLayer::builder()
        .configure(|c| c.limit = Some(limit))
        .name("t")
        .sink(Arc::new(sink.clone()))
        .build()
        .unwrap()
}

fn reason(err: &BoxError) -> Reason {
    Rejected::find(&**err).expect("a rejection").reason()
}

#[tokio::test(start_paused = true)]
async fn own_limit_ends_the_call_at_the_limit_and_drops_the_inner_future() {
    let sink = RecordingSink::new();
    let slow = Slow::new(Duration::from_secs(10));
    let mut svc = layer(Duration::from_millis(300), &sink).layer(slow.clone());
    let start = Instant::now();
    ServiceExt::<http::Request<()>>::ready(&mut svc)
        .await
        .unwrap();
    let mut call = std::pin::pin!(svc.call(http::Request::new(())));
    let err = (&mut call).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(reason(&err), Reason::Timeout);
    assert!(Rejected::find(&*err).unwrap().was_sent());
    // Still holding our response future: the inner one went at expiry.
    assert!(
        slow.dropped.load(Ordering::SeqCst),
        "inner future must be dropped at expiry"
    );
    assert_eq!(sink.events_for("t"), vec![Event::Rejected(Reason::Timeout)]);
    // A timeout after sending counts against the dependency.
    let classified =
        Classify::<http::Response<()>>::classify(&HttpClassifier::default(), Err(&*err));
    assert_eq!(classified, Outcome::Failure);
}

/// The timer is made on the first poll the inner future does not answer,
/// but it ends where the call started it: a response future first polled
/// late, after its limit, ends at that first poll, and one polled early
/// ends at the limit counted from the call.
#[tokio::test(start_paused = true)]
async fn the_limit_counts_from_the_call_not_from_the_first_poll() {
    let sink = RecordingSink::new();
    let slow = Slow::new(Duration::from_secs(10));
    let mut svc = layer(Duration::from_millis(300), &sink).layer(slow.clone());
    ServiceExt::<http::Request<()>>::ready(&mut svc)
        .await
        .unwrap();
    let call = svc.call(http::Request::new(()));
    tokio::time::advance(Duration::from_millis(500)).await;
    let polled = Instant::now();
    let err = call.await.unwrap_err();
    assert_eq!(
        polled.elapsed(),
        Duration::ZERO,
        "over its limit at the first poll"
    );
    assert_eq!(reason(&err), Reason::Timeout);

    ServiceExt::<http::Request<()>>::ready(&mut svc)
        .await
        .unwrap();
    let start = Instant::now();
    let call = svc.call(http::Request::new(()));
    tokio::time::advance(Duration::from_millis(200)).await;
    let err = call.await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(reason(&err), Reason::Timeout);
    assert_eq!(slow.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_shorter_context_deadline_ends_the_call_at_the_deadline() {
    let sink = RecordingSink::new();
    let slow = Slow::new(Duration::from_secs(10));
    let svc = layer(Duration::from_secs(2), &sink).layer(slow.clone());
    let start = Instant::now();
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_millis(120)));
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(120));
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
    assert!(slow.dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_longer_context_deadline_leaves_the_limit_in_charge() {
    let sink = RecordingSink::new();
    let svc = layer(Duration::from_millis(200), &sink).layer(Slow::new(Duration::from_secs(10)));
    let start = Instant::now();
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_secs(5)));
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(reason(&err), Reason::Timeout);
}

#[tokio::test(start_paused = true)]
async fn the_current_context_deadline_applies_to_client_calls() {
    let sink = RecordingSink::new();
    let svc = TimeoutLayer::builder()
        .sink(Arc::new(sink.clone()))
        .build()
        .unwrap()
        .layer(Slow::new(Duration::from_secs(10)));
    let start = Instant::now();
    let ctx = RequestContext::new(start).with_deadline(start + Duration::from_millis(75));
    let err = ctx
        .scope(svc.oneshot(http::Request::new(())))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(75));
    assert_eq!(reason(&err), Reason::DeadlineExceeded);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_spent_on_arrival_is_refused_without_calling_the_inner_service() {
    let sink = RecordingSink::new();
    let slow = Slow::new(Duration::from_millis(1));
    let svc = layer(Duration::from_secs(1), &sink).layer(slow.clone());
    let start = Instant::now();
    tokio::time::advance(Duration::from_millis(50)).await;
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_millis(10)));
    let err = svc.oneshot(req).await.unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(!rejected.was_sent());
    assert_eq!(rejected.outcome(), Outcome::Ignored);
    assert_eq!(slow.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_fast_answer_passes_untouched() {
    let sink = RecordingSink::new();
    let slow = Slow::new(Duration::from_millis(40));
    let svc = layer(Duration::from_millis(50), &sink).layer(slow.clone());
    let start = Instant::now();
    svc.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(40));
    assert!(!slow.dropped.load(Ordering::SeqCst));
    assert!(sink.events_for("t").is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_limit_or_deadline_nothing_is_enforced() {
    let svc = TimeoutLayer::deadline_only().layer(Slow::new(Duration::from_secs(3600)));
    let start = Instant::now();
    svc.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}
