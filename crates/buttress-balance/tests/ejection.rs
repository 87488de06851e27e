//! Passive outlier ejection, on a paused clock: three in-process
//! backends behind one balancer, one misbehaving.

mod support;

use std::time::Duration;

use buttress_balance::EndpointState;
use support::{Mode, balancer, config, load, percent, state, three};

const WORKERS: usize = 8;

#[tokio::test(start_paused = true)]
async fn a_backend_answering_500s_is_ejected_within_a_second_and_then_barely_called() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Fail500);
    let (client, handle) = balancer(config(), &backends);

    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        state(&handle, "2"),
        EndpointState::Ejected,
        "ejected within 1 s"
    );
    let before = [0, 1, 2].map(|i| backends[i].calls());

    let tally = run.await.unwrap();
    let after: Vec<u64> = (0..3).map(|i| backends[i].calls() - before[i]).collect();
    let total: u64 = after.iter().sum();
    let bad_share = percent(after[2], total);
    let success = percent(tally.ok(), tally.ok() + tally.failed());
    println!(
        "500s: {} calls after 1 s, {:.3} % to the failing backend; client success {:.3} % of {}",
        total,
        bad_share,
        success,
        tally.ok() + tally.failed()
    );
    assert!(bad_share <= 1.0, "the failing backend got {bad_share:.3} %");
    assert!(success >= 99.5, "client success {success:.3} %");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_backend_is_ejected_through_its_per_attempt_timeouts() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Hang);
    let mut config = config();
    config.ejection.consecutive_failures = Some(3);
    let (client, handle) = balancer(config, &backends);

    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 2));
    let mut ejected_at = None;
    for tenth in 1..=600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if state(&handle, "2") == EndpointState::Ejected {
            ejected_at = Some(Duration::from_millis(tenth * 100));
            break;
        }
    }
    let tally = run.await.unwrap();
    let ejected_at = ejected_at.expect("the hanging backend was ejected");
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    println!(
        "hang: ejected after {ejected_at:?}; calls {calls:?}; client ok {} failed {}",
        tally.ok(),
        tally.failed()
    );
    assert!(ejected_at <= Duration::from_secs(5));
    assert_eq!(tally.failed(), 0, "retries cover the timed-out attempts");
}

#[tokio::test(start_paused = true)]
async fn a_backend_ten_times_slower_gets_at_most_a_tenth() {
    let backends = three([5, 5, 50]);
    let (client, _handle) = balancer(config(), &backends);
    let tally = load(client, WORKERS, Duration::from_secs(60), 0).await;
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    let share = percent(calls[2], calls.iter().sum());
    println!("slow: calls {calls:?}, {share:.2} % to the 10x slower backend");
    assert_eq!(tally.failed(), 0);
    assert!(share <= 10.0, "the slow backend got {share:.2} %");
}

#[tokio::test(start_paused = true)]
async fn a_backend_answering_429_loses_share_but_is_not_ejected() {
    let backends = three([5, 5, 5]);
    backends[2].set(Mode::Busy429);
    let (client, handle) = balancer(config(), &backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 2));
    let mut ever_ejected = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ever_ejected |= state(&handle, "2") == EndpointState::Ejected;
    }
    run.await.unwrap();
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    let share = percent(calls[2], calls.iter().sum());
    let ejections = handle
        .endpoints()
        .iter()
        .map(|ep| ep.ejections)
        .sum::<u64>();
    println!("429: calls {calls:?}, {share:.2} % to the busy backend, ejections {ejections}");
    assert!(!ever_ejected && ejections == 0, "never ejected");
    assert!(
        share < 10.0,
        "the busy backend got {share:.2} %, far below a third"
    );
    assert!(calls[2] > 0);
}

#[tokio::test(start_paused = true)]
async fn with_two_of_three_failing_and_34_percent_at_most_one_is_ejected() {
    let backends = three([5, 5, 5]);
    backends[1].set(Mode::Fail500);
    backends[2].set(Mode::Fail500);
    let mut config = config();
    config.ejection.max_ejection_percent = 34.0;
    let (client, handle) = balancer(config, &backends);
    let run = tokio::spawn(load(client, WORKERS, Duration::from_secs(60), 2));
    let (mut most, mut least_after_start) = (0, usize::MAX);
    for tenth in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ejected = handle.ejected();
        most = most.max(ejected);
        if tenth >= 10 {
            least_after_start = least_after_start.min(ejected);
        }
    }
    run.await.unwrap();
    println!("two failing: at most {most} ejected at once, at least {least_after_start} after 1 s");
    assert_eq!(most, 1, "never more than one ejected");
}

#[tokio::test(start_paused = true)]
async fn with_no_endpoint_left_a_call_is_refused_at_once() {
    let backends = three([5, 5, 5]);
    for backend in &backends {
        backend.set(Mode::Fail500);
    }
    let mut config = config();
    config.ejection.max_ejection_percent = 100.0;
    let (client, handle) = balancer(config, &backends);
    load(client.clone(), WORKERS, Duration::from_secs(1), 0).await;
    assert_eq!(handle.ejected(), 3);

    use tower::ServiceExt;
    let started = tokio::time::Instant::now();
    let err = client.oneshot(http::Request::new(())).await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "refused at once, not a hang"
    );
    let rejected = buttress_core::Rejected::find(&*err).expect("a typed refusal");
    assert_eq!(rejected.reason(), buttress_core::Reason::NoEndpoint);
    assert!(!rejected.was_sent());
    let hint = rejected.retry_after().expect("a retry hint");
    assert!(
        hint > Duration::from_secs(20) && hint <= Duration::from_secs(33),
        "{hint:?}"
    );
}
