//! (9) Breaker straggler: a call admitted while the breaker was closed
//! ends only after the breaker has tripped, half-opened and closed again.
//! Its outcome describes the dependency as it was before the trip; it must
//! not count in the new closed period's window. With `minimum_calls = 1`
//! one stale failure there would re-open a freshly closed breaker on its
//! next call, even a successful one.

use std::convert::Infallible;
use std::time::Duration;

use buttress::breaker::{BackoffConfig, CircuitBreakerLayer, State, WindowConfig};
use buttress::core::layer::LayerBuilder;
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt, service_fn};

const WAIT: Duration = Duration::from_secs(1);
/// How long the straggler's dependency takes: longer than the whole cycle.
const STRAGGLE: Duration = Duration::from_secs(10);

/// A dependency answering each request with the status in its body,
/// after the delay in its body.
fn dependency()
-> impl Service<Request<(u16, Duration)>, Response = Response<()>, Error = Infallible, Future: Send>
+ Clone
+ Send {
    service_fn(|req: Request<(u16, Duration)>| {
        let (status, delay) = *req.body();
        async move {
            tokio::time::sleep(delay).await;
            Ok(Response::builder().status(status).body(()).unwrap())
        }
    })
}

fn breaker(name: &str, window: WindowConfig) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = window;
            c.minimum_calls = 1;
            c.failure_rate = 50.0;
            c.wait = WAIT;
            c.backoff = BackoffConfig {
                multiplier: 1.0,
                max_wait: WAIT,
                jitter: 0.0,
            };
            c.permitted_probes = 1;
        })
        .name(name)
        .build()
        .unwrap()
}

async fn straggler_after_a_full_cycle(name: &str, window: WindowConfig) {
    let layer = breaker(name, window);
    let handle = layer.handle();
    let svc = layer.layer(dependency());
    let send = |status: u16, delay: Duration| {
        status_of(svc.clone().oneshot(Request::new((status, delay))))
    };

    // Admitted while closed; answers 500 only after the cycle below.
    let straggler = tokio::spawn(send(500, STRAGGLE));
    tokio::task::yield_now().await;

    // Another call fails: with `minimum_calls = 1`, the breaker trips.
    assert_eq!(send(500, Duration::ZERO).await, Some(500));
    assert_eq!(handle.state(), State::Open);
    // The wait passes; the probe succeeds and closes the breaker afresh.
    tokio::time::sleep(WAIT + Duration::from_millis(1)).await;
    assert_eq!(send(200, Duration::ZERO).await, Some(200));
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.stats().calls, 0);

    // The straggler's failure arrives in the new closed period.
    assert_eq!(straggler.await.unwrap(), Some(500));
    let stats = handle.stats();
    assert_eq!(stats.state, State::Closed, "{stats:?}");
    assert_eq!((stats.calls, stats.failures), (0, 0), "{stats:?}");

    // The next call, a success, keeps the breaker closed.
    assert_eq!(send(200, Duration::ZERO).await, Some(200));
    let stats = handle.stats();
    assert_eq!(stats.state, State::Closed, "{stats:?}");
    assert_eq!((stats.calls, stats.failures), (1, 0), "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_straggler_never_counts_in_the_next_closed_window_count() {
    straggler_after_a_full_cycle("hostile-straggler-count", WindowConfig::Count { size: 10 }).await;
}

#[tokio::test(start_paused = true)]
async fn a_straggler_never_counts_in_the_next_closed_window_time() {
    let window = WindowConfig::Time {
        duration: Duration::from_secs(60),
        buckets: 10,
    };
    straggler_after_a_full_cycle("hostile-straggler-time", window).await;
}

/// The status of an answer, `None` for an error (a refusal).
async fn status_of<E>(call: impl Future<Output = Result<Response<()>, E>>) -> Option<u16> {
    call.await.ok().map(|res| res.status().as_u16())
}
