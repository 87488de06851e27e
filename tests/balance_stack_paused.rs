//! Issue 24's properties with three backends behind one *client stack*
//! (`ClientStack` with a `balance` section, applied with
//! `balanced_discover`), on a paused clock: the stack's retry above the
//! balancer, and per endpoint its breaker, bulkhead and a 100 ms
//! per-attempt timeout below it. The balancer's own tests
//! (`crates/buttress-balance/tests/`) hold the same properties for the
//! balancer alone; these check that the stack's layers, in their places,
//! keep them.

#![cfg(all(feature = "balance", feature = "stack"))]

// The balancer's own test support (it allows its unused parts).
#[path = "../crates/buttress-balance/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use buttress::balance::{BalanceConfig, EndpointState, discover};
use buttress::core::layer::LayerHandle;
use buttress::retry::RetryConfig;
use buttress::stack::ClientStack;
use support::{Backend, Mode, load, percent, state, three};

const WORKERS: usize = 8;

/// The balance section the tests start from: seeded, ejection after 5
/// failures in a row.
fn balance() -> BalanceConfig {
    let mut config = BalanceConfig {
        seed: Some(7),
        ..BalanceConfig::default()
    };
    config.ejection.consecutive_failures = Some(5);
    config
}

/// One client stack over `backends` (keys `"0"`, `"1"`, `"2"`): retries
/// on (3 attempts), a 100 ms per-attempt timeout, the stack's default
/// breaker and bulkhead per endpoint.
macro_rules! stack_over {
    ($balance:expr, $backends:expr) => {{
        let layer = ClientStack::new("inventory")
            .clone_requests()
            .configure(|c| {
                c.balance = Some($balance);
                c.timeout = Duration::from_millis(100).into();
                c.retry = RetryConfig {
                    max_attempts: 3,
                    ..RetryConfig::default()
                }
                .into();
            })
            .build()
            .unwrap();
        let client = layer
            .balanced_discover(discover::static_list(
                $backends
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i.to_string(), b.service())),
            ))
            .unwrap();
        let handle = layer.balance().unwrap().clone();
        (client, handle)
    }};
}

#[tokio::test(start_paused = true)]
async fn a_backend_answering_500s_is_ejected_within_a_second_and_then_barely_called() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Fail500);
    let (client, handle) = stack_over!(balance(), backends);

    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 0));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        state(&handle, "2"),
        EndpointState::Ejected,
        "ejected within 1 s"
    );
    let before = [0, 1, 2].map(|i| backends[i].calls());
    let tally = run.await.unwrap();
    let after: Vec<u64> = (0..3).map(|i| backends[i].calls() - before[i]).collect();
    let bad_share = percent(after[2], after.iter().sum());
    let success = percent(tally.ok(), tally.ok() + tally.failed());
    println!(
        "stack, 500s: {:.3} % to the failing backend after 1 s; client success {success:.3} % of {}",
        bad_share,
        tally.ok() + tally.failed()
    );
    assert!(bad_share <= 1.0, "the failing backend got {bad_share:.3} %");
    assert!(
        success >= 99.5,
        "client success {success:.3} % (the stack's retries on)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_backend_is_ejected_through_the_stacks_per_attempt_timeouts() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Hang);
    let (client, handle) = stack_over!(balance(), backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(30), 0));
    let mut ejected_at = None;
    for tenth in 1..=300u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if state(&handle, "2") == EndpointState::Ejected {
            ejected_at = Some(Duration::from_millis(tenth * 100));
            break;
        }
    }
    let tally = run.await.unwrap();
    let ejected_at = ejected_at.expect("the hanging backend was ejected");
    println!(
        "stack, hang: ejected after {ejected_at:?}; client ok {} failed {}",
        tally.ok(),
        tally.failed()
    );
    // Five timed-out attempts in a row, 100 ms each, spread over 8 callers.
    assert!(ejected_at <= Duration::from_secs(2), "{ejected_at:?}");
    assert_eq!(
        tally.failed(),
        0,
        "the stack's retries cover the timed-out attempts"
    );
}

#[tokio::test(start_paused = true)]
async fn a_backend_ten_times_slower_gets_at_most_a_tenth() {
    let backends = three([5, 5, 50]);
    let (client, _handle) = stack_over!(balance(), backends);
    let tally = load(client, WORKERS, Duration::from_secs(60), 0).await;
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    let share = percent(calls[2], calls.iter().sum());
    println!("stack, slow: calls {calls:?}, {share:.2} % to the 10x slower backend");
    assert_eq!(tally.failed(), 0);
    assert!(share <= 10.0, "the slow backend got {share:.2} %");
}

#[tokio::test(start_paused = true)]
async fn a_backend_answering_429_loses_share_but_is_not_ejected() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Busy429);
    let (client, handle) = stack_over!(balance(), backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 0));
    let mut ever_ejected = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ever_ejected |= state(&handle, "2") == EndpointState::Ejected;
    }
    run.await.unwrap();
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    let share = percent(calls[2], calls.iter().sum());
    println!("stack, 429: calls {calls:?}, {share:.2} % to the busy backend");
    assert!(!ever_ejected, "never ejected");
    assert!(
        share < 10.0,
        "the busy backend got {share:.2} %, far below a third"
    );
    assert!(calls[2] > 0, "but still tried");
}

#[tokio::test(start_paused = true)]
async fn with_two_of_three_failing_and_34_percent_at_most_one_is_ejected() {
    let backends = three([5, 5, 5]);
    backends[1].set(Mode::Fail500);
    backends[2].set(Mode::Fail500);
    let mut config = balance();
    config.ejection.max_ejection_percent = 34.0;
    let (client, handle) = stack_over!(config, backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 0));
    let mut most = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        most = most.max(handle.ejected());
    }
    run.await.unwrap();
    println!("stack, two failing: at most {most} ejected at once");
    assert_eq!(most, 1, "never more than one ejected");
}

#[tokio::test(start_paused = true)]
async fn a_recovered_backend_is_readmitted_and_ramps_up_over_the_slow_start_window() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Fail500);
    let mut config = balance();
    config.ejection.base_time = Duration::from_secs(5);
    config.ejection.jitter = 0.0;
    config.slow_start = Some(Duration::from_secs(20));
    let (client, handle) = stack_over!(config, backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(40), 0));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(state(&handle, "2"), EndpointState::Ejected);
    backends[2].set(Mode::Ok);
    let mut shares = Vec::new();
    let mut last: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    for _ in 1..35 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
        let delta: Vec<u64> = now.iter().zip(&last).map(|(n, l)| n - l).collect();
        shares.push(percent(delta[2], delta.iter().sum()));
        last = now;
    }
    run.await.unwrap();
    let early = shares[4..7].iter().sum::<f64>() / 3.0;
    let middle = shares[14..17].iter().sum::<f64>() / 3.0;
    let late = shares[27..].iter().sum::<f64>() / shares[27..].len() as f64;
    println!("stack, slow start: early {early:.1} %, middle {middle:.1} %, late {late:.1} %");
    assert!(shares[..3].iter().all(|&s| s == 0.0), "ejected: {shares:?}");
    assert!(early < 8.0, "early {early:.1} %");
    assert!(middle > early && middle < late, "middle {middle:.1} %");
    assert!((26.0..=40.0).contains(&late), "late {late:.1} %");
}

#[tokio::test(start_paused = true)]
async fn endpoints_added_and_removed_mid_traffic_fail_no_request() {
    let backends: Vec<Arc<Backend>> = (0..4)
        .map(|_| Backend::new(Duration::from_millis(5)))
        .collect();
    let layer = ClientStack::new("inventory")
        .clone_requests()
        .configure(|c| c.balance = Some(balance()))
        .build()
        .unwrap();
    let (endpoints, changes) = discover::channel(16);
    let client = layer.balanced_discover(changes).unwrap();
    for (i, backend) in backends.iter().enumerate().take(3) {
        endpoints.insert(i, backend.service()).await.unwrap();
    }
    let run = tokio::spawn(load(client, 16, Duration::from_secs(30), 0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    endpoints.insert(3, backends[3].service()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    endpoints.remove(0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    endpoints.remove(1).await.unwrap();
    let removed_at = backends[1].calls();
    let tally = run.await.unwrap();
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    println!(
        "stack, changes: ok {} failed {}, calls {calls:?}",
        tally.ok(),
        tally.failed()
    );
    assert_eq!(tally.failed(), 0, "no request failed");
    assert!(calls[3] > 0, "the added endpoint took calls");
    assert!(
        calls[1] - removed_at <= 16,
        "a removed endpoint takes no new call"
    );
    assert_eq!(layer.balance().unwrap().endpoints().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn fault_injection_in_a_balanced_stack_is_one_layer_for_the_dependency() {
    // Every call delayed 10 ms by the stack's chaos section, applied below
    // the balancer to each replica's connection; the chaos layer keeps
    // the dependency's name, which directives use.
    let backends = three([5, 5, 5]);
    let layer = ClientStack::new("inventory")
        .clone_requests()
        .configure(|c| {
            c.balance = Some(balance());
            c.chaos = buttress::chaos::ChaosConfig {
                delay: Some(buttress::chaos::DelayConfig {
                    percent: 100.0,
                    latency: buttress::chaos::Latency::Fixed {
                        delay: Duration::from_millis(10),
                    },
                }),
                ..buttress::chaos::ChaosConfig::default()
            }
            .into();
        })
        .build()
        .unwrap();
    let client = layer
        .balanced_discover(discover::static_list(
            backends
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), b.service())),
        ))
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = tower::ServiceExt::oneshot(client, http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(15),
        "5 ms backend + 10 ms injected"
    );
    assert_eq!(layer.chaos().unwrap().id().name(), "inventory");
}
