//! (1) Adaptive limit poisoning: cheap calls that drag the limit down.
//!
//! Reproduced against an earlier Buttress: one client sending ~80 req/s
//! to a 404 drove the default gradient limit from 65 to 4 within ~5 s
//! (legitimate requests 2 % → 84.5 % 503, and 91.5 % for 30 s after the
//! attack, until the 60 s re-probe); at concurrency 16 against a handler
//! waiting 100 ms on a dependency, 26–48 of 300 healthy requests were
//! refused. The limit's baseline was the fastest call ever seen, which
//! one cheap route sets and which can only fall: every real call then
//! looked twice as slow as "no load", and the gradient halved the limit
//! window after window. Now the baseline is an exponentially-decaying
//! average of the windows' mean round trips (Netflix Gradient2's
//! long-term RTT, `baseline_windows`, default 600): a cheaper mix can only
//! let the limit grow while it is used, and its end barely moves the
//! baseline; a re-probe pulls the baseline halfway, not all the way.
//!
//! Both run through the default `ServerStack` on tokio's paused clock,
//! with the latency model of `tests/overload_sim.rs` (20 slots of 20 ms,
//! 1,000 requests/s); `--nocapture` prints the figures.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress::stack::ServerStack;
use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt, service_fn};

type Svc = BoxCloneService<http::Request<()>, http::StatusCode, Infallible>;

/// `/missing` answers 404 at once (a cheap route); anything else takes
/// one of `slots` for `work`, queueing (unbounded) when none is free.
fn server(
    slots: usize,
    work: Duration,
) -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    let slots = Arc::new(Semaphore::new(slots));
    service_fn(move |request: http::Request<()>| {
        let slots = slots.clone();
        async move {
            if request.uri().path() == "/missing" {
                let mut response = http::Response::new(Full::new(Bytes::new()));
                *response.status_mut() = http::StatusCode::NOT_FOUND;
                return Ok::<_, Infallible>(response);
            }
            let _slot = slots.acquire_owned().await.expect("never closed");
            tokio::time::sleep(work).await;
            Ok(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    })
}

fn request(path: &'static str) -> http::Request<()> {
    http::Request::builder().uri(path).body(()).expect("valid")
}

/// A uniform in (0, 1] from a SplitMix64 state (as overload_sim's).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
}

/// Legitimate traffic before, during and after the attack.
const WARM_UP: Duration = Duration::from_secs(3);
const ATTACK_FROM: Duration = Duration::from_secs(8);
const ATTACK_TO: Duration = Duration::from_secs(18);
const END: Duration = Duration::from_secs(25);
/// Legitimate load: 0.9× the server's 1,000 requests/s.
const LEGIT_PER_SEC: f64 = 900.0;
const ATTACK_PER_SEC: f64 = 80.0;

/// The poisoning attack: legitimate Poisson traffic all along, and 80
/// req/s to `/missing` from `ATTACK_FROM` to `ATTACK_TO`. The legitimate
/// 503 rate during the attack stays within 2 points of the rate before
/// it, and 5 s after the attack the limit is within 20 % of its value
/// when the attack began (and stays there).
#[tokio::test(start_paused = true)]
async fn a_cheap_route_flood_does_not_poison_the_adaptive_limit() {
    let stack = ServerStack::new("hostile-poison").build().expect("valid");
    let limit = stack.adaptive_limit().cloned().expect("on by default");
    let svc: Svc = BoxCloneService::new(
        stack
            .layer(server(20, Duration::from_millis(20)))
            .map_response(|response| response.status()),
    );
    let start = Instant::now();
    // (sent, ok) of every legitimate request.
    let log: Arc<Mutex<Vec<(Duration, bool)>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (svc, log) = (svc.clone(), log.clone());
        tasks.spawn(async move {
            let mut state = 0x0020_0001_u64;
            let mut at = Duration::ZERO;
            let mut requests = tokio::task::JoinSet::new();
            loop {
                at += Duration::from_secs_f64(-uniform(&mut state).ln() / LEGIT_PER_SEC);
                if at >= END {
                    break;
                }
                tokio::time::sleep_until(start + at).await;
                let (svc, log) = (svc.clone(), log.clone());
                requests.spawn(async move {
                    let status = svc.oneshot(request("/work")).await.expect("infallible");
                    log.lock()
                        .unwrap()
                        .push((at, status == http::StatusCode::OK));
                });
            }
            requests.join_all().await;
        });
    }
    {
        let svc = svc.clone();
        tasks.spawn(async move {
            let gap = Duration::from_secs_f64(1.0 / ATTACK_PER_SEC);
            let mut at = ATTACK_FROM;
            while at < ATTACK_TO {
                tokio::time::sleep_until(start + at).await;
                let status = svc
                    .clone()
                    .oneshot(request("/missing"))
                    .await
                    .expect("infallible");
                assert_ne!(status, http::StatusCode::OK);
                at += gap;
            }
        });
    }
    // The limit, every 100 ms.
    let mut limits = Vec::new();
    let mut at = Duration::ZERO;
    while at < END {
        at += Duration::from_millis(100);
        tokio::time::sleep_until(start + at).await;
        limits.push((at, limit.limit()));
    }
    tasks.join_all().await;

    let log = log.lock().unwrap();
    let refused = |from: Duration, to: Duration| {
        let sent: Vec<_> = log
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .collect();
        sent.iter().filter(|(_, ok)| !ok).count() as f64 / sent.len() as f64
    };
    let before = refused(WARM_UP, ATTACK_FROM);
    let during = refused(ATTACK_FROM, ATTACK_TO);
    let after = refused(ATTACK_TO, END);
    let limit_at = |t: Duration| limits.iter().find(|(at, _)| *at >= t).expect("sampled").1;
    let pre_attack = limit_at(ATTACK_FROM);
    let lowest = limits
        .iter()
        .filter(|(at, _)| (ATTACK_FROM..ATTACK_TO + Duration::from_secs(5)).contains(at))
        .map(|(_, limit)| *limit)
        .min()
        .expect("sampled");
    println!(
        "poisoning: legitimate 503 {:.1} % before, {:.1} % during, {:.1} % after the attack; \
         limit {pre_attack} when it began, lowest {lowest}, {} 5 s after it stopped",
        100.0 * before,
        100.0 * during,
        100.0 * after,
        limit_at(ATTACK_TO + Duration::from_secs(5)),
    );
    assert!(
        during - before <= 0.02,
        "legitimate 503 rate {before:.3} before the attack, {during:.3} during"
    );
    for (at, value) in limits
        .iter()
        .filter(|(at, _)| *at >= ATTACK_TO + Duration::from_secs(5))
    {
        assert!(
            value.abs_diff(pre_attack) as f64 <= 0.2 * pre_attack as f64,
            "limit {value} at {at:?}, {pre_attack} before the attack"
        );
    }
}

/// Concurrency 16 (each caller sends its next request when the last is
/// answered) against a handler waiting 100 ms on a dependency (with a few
/// ms of jitter), while a load balancer's health check hits a cheap route
/// through the same stack once a second: no request refused.
#[tokio::test(start_paused = true)]
async fn concurrency_16_against_a_slow_dependency_is_never_refused() {
    let stack = ServerStack::new("hostile-slow-dependency")
        .build()
        .expect("valid");
    let limit = stack.adaptive_limit().cloned().expect("on by default");
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let handler = service_fn(move |request: http::Request<()>| {
        let calls = calls.clone();
        async move {
            if request.uri().path() == "/missing" {
                let mut response = http::Response::new(Full::new(Bytes::new()));
                *response.status_mut() = http::StatusCode::NOT_FOUND;
                return Ok::<_, Infallible>(response);
            }
            let mut state = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let jitter = Duration::from_secs_f64(0.005 * uniform(&mut state));
            tokio::time::sleep(Duration::from_millis(100) + jitter).await;
            Ok(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let svc: Svc = BoxCloneService::new(
        stack
            .layer(handler)
            .map_response(|response| response.status()),
    );
    let health = {
        let svc = svc.clone();
        tokio::spawn(async move {
            loop {
                let _ = svc.clone().oneshot(request("/missing")).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let svc = svc.clone();
        callers.spawn(async move {
            let mut refused = 0;
            // 300 requests in all: 19 each, plus some.
            for _ in 0..19 {
                let status = svc
                    .clone()
                    .oneshot(request("/work"))
                    .await
                    .expect("infallible");
                refused += usize::from(status != http::StatusCode::OK);
            }
            refused
        });
    }
    let refused: usize = callers.join_all().await.into_iter().sum();
    health.abort();
    println!(
        "slow dependency: {refused} of {} refused at concurrency 16, limit {}",
        16 * 19,
        limit.limit()
    );
    assert_eq!(refused, 0, "limit {}", limit.limit());
}
