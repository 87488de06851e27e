//! Three in-process backends behind one balancer, on a paused clock.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use buttress_balance::{BalanceConfig, BalanceLayer, discover};
use buttress_core::BoxError;
use buttress_core::layer::LayerBuilder;
use buttress_core::timeout::TimeoutLayer;
use tower::ServiceExt;

pub type Req = http::Request<()>;
pub type Res = http::Response<()>;

/// How a backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ok = 0,
    Fail500 = 1,
    Hang = 2,
    Busy429 = 3,
}

#[derive(Debug)]
pub struct Backend {
    pub mode: AtomicU8,
    /// Latency of an answer, in microseconds.
    pub latency_us: AtomicU64,
    pub calls: AtomicU64,
}

impl Backend {
    pub fn new(latency: Duration) -> Arc<Self> {
        Arc::new(Backend {
            mode: AtomicU8::new(Mode::Ok as u8),
            latency_us: AtomicU64::new(latency.as_micros() as u64),
            calls: AtomicU64::new(0),
        })
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    pub fn service(
        self: &Arc<Self>,
    ) -> impl tower::Service<Req, Response = Res, Error = Infallible, Future = impl Send>
    + Clone
    + Send
    + Sync
    + 'static {
        let backend = self.clone();
        tower::service_fn(move |_req: Req| {
            let backend = backend.clone();
            async move {
                backend.calls.fetch_add(1, Relaxed);
                let mode = backend.mode.load(Relaxed);
                if mode == Mode::Hang as u8 {
                    std::future::pending::<()>().await;
                }
                let status = match mode {
                    1 => 500,
                    3 => 429,
                    _ => {
                        let latency = backend.latency_us.load(Relaxed);
                        tokio::time::sleep(Duration::from_micros(latency)).await;
                        200
                    }
                };
                Ok::<_, Infallible>(http::Response::builder().status(status).body(()).unwrap())
            }
        })
    }
}

/// The test config: seeded, a per-attempt timeout of 100 ms per
/// endpoint, ejection after 5 failures in a row.
pub fn config() -> BalanceConfig {
    let mut config = BalanceConfig {
        seed: Some(7),
        ..BalanceConfig::default()
    };
    config.ejection.consecutive_failures = Some(5);
    config
}

pub fn per_attempt_timeout() -> TimeoutLayer {
    TimeoutLayer::builder()
        .configure(|c| c.limit = Some(Duration::from_millis(100)))
        .build()
        .unwrap()
}

/// A balancer over `backends`, keyed 0, 1, 2, …, fed by a channel.
pub fn balancer(
    config: BalanceConfig,
    backends: &[Arc<Backend>],
) -> (
    impl tower::Service<Req, Response = Res, Error = BoxError, Future = impl Send>
    + Clone
    + Send
    + 'static,
    buttress_balance::BalanceHandle,
) {
    let layer = BalanceLayer::builder()
        .with_config(config)
        .endpoint_layer(per_attempt_timeout())
        .build()
        .unwrap();
    let client = layer.discover(discover::static_list(
        backends.iter().enumerate().map(|(i, b)| (i, b.service())),
    ));
    let handle = client.handle();
    (client, handle)
}

/// The totals of a load run.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
}

impl Tally {
    pub fn ok(&self) -> u64 {
        self.ok.load(Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}

/// Runs `workers` callers for `duration`, each sending a request as soon
/// as its last one ended, with up to `retries` retries on a failure.
pub async fn load<S>(client: S, workers: usize, duration: Duration, retries: u32) -> Arc<Tally>
where
    S: tower::Service<Req, Response = Res, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let tally = Arc::new(Tally::default());
    let end = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = client.clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < end {
                let mut ok = false;
                for _ in 0..=retries {
                    match client.clone().oneshot(http::Request::new(())).await {
                        Ok(res) if res.status().is_success() => {
                            ok = true;
                            break;
                        }
                        // A refusal before sending takes no time: back off
                        // a little, as a real retry would.
                        _ => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                if ok {
                    tally.ok.fetch_add(1, Relaxed);
                } else {
                    tally.failed.fetch_add(1, Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    tally
}

/// `part` of `whole`, in percent.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Three backends answering after `latency_ms` each.
pub fn three(latency_ms: [u64; 3]) -> Vec<Arc<Backend>> {
    latency_ms
        .iter()
        .map(|ms| Backend::new(Duration::from_millis(*ms)))
        .collect()
}

/// Where `endpoint` stands in the balancer behind `handle`.
pub fn state(
    handle: &buttress_balance::BalanceHandle,
    endpoint: &str,
) -> buttress_balance::EndpointState {
    handle
        .endpoints()
        .into_iter()
        .find(|ep| ep.endpoint == endpoint)
        .expect("the endpoint is in the table")
        .state
}

/// Asserts `endpoint` is back in rotation, ramping up or fully active,
/// and says which.
pub fn assert_readmitted(
    handle: &buttress_balance::BalanceHandle,
    endpoint: &str,
) -> buttress_balance::EndpointState {
    let now = state(handle, endpoint);
    assert!(
        matches!(
            now,
            buttress_balance::EndpointState::SlowStart | buttress_balance::EndpointState::Active
        ),
        "{endpoint}: {now:?}"
    );
    now
}

/// A request to a real loopback backend.
pub type HttpReq = http::Request<http_body_util::Empty<bytes::Bytes>>;

/// One hyper-util client shared by every endpoint.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// A hyper-util client for [`http_endpoint`].
pub fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// The service the balancer makes for the endpoint at `addr`: each call
/// goes to `http://{addr}/` over the shared client.
pub fn http_endpoint(
    http: HttpClient,
    addr: std::net::SocketAddr,
) -> impl tower::Service<
    HttpReq,
    Response = http::Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |mut req: HttpReq| {
        *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
        http.request(req)
    })
}
