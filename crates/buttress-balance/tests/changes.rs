//! Readmission with slow start, and endpoint set changes mid-traffic, on
//! a paused clock.

mod support;

use std::sync::Arc;
use std::time::Duration;

use buttress_balance::{BalanceLayer, EndpointState, discover};
use buttress_core::layer::LayerBuilder;
use support::{Backend, Mode, balancer, config, load, per_attempt_timeout, percent};

#[tokio::test(start_paused = true)]
async fn a_recovered_backend_is_readmitted_and_ramps_up_over_the_slow_start_window() {
    let backends: Vec<_> = (0..3)
        .map(|_| Backend::new(Duration::from_millis(5)))
        .collect();
    backends[2].set(Mode::Fail500);
    let mut config = config();
    config.ejection.base_time = Duration::from_secs(5);
    config.ejection.jitter = 0.0;
    config.slow_start = Some(Duration::from_secs(20));
    let (client, handle) = balancer(config, &backends);
    let run = tokio::spawn(load(client, 8, Duration::from_secs(40), 2));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = handle.endpoints();
    assert_eq!(stats[2].state, EndpointState::Ejected);
    backends[2].set(Mode::Ok);
    // Ejected for 5 s from its ejection (near 0 s): back from about 5 s
    // on, its share ramping over the next 20 s. Its share per second:
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
    let fmt: Vec<String> = shares.iter().map(|s| format!("{s:.1}")).collect();
    println!("slow start: share per second from 1 s: {}", fmt.join(" "));
    // Seconds 2..5: ejected, nothing.
    assert!(shares[..3].iter().all(|&s| s == 0.0));
    // The first seconds after readmission: near zero.
    let early = shares[4..7].iter().sum::<f64>() / 3.0;
    // After the window: an equal share.
    let late = shares[27..].iter().sum::<f64>() / shares[27..].len() as f64;
    // Half-way: in between.
    let middle = shares[14..17].iter().sum::<f64>() / 3.0;
    println!("slow start: early {early:.1} %, middle {middle:.1} %, late {late:.1} %");
    assert!(early < 8.0, "early {early:.1} %");
    assert!(middle > early && middle < late, "middle {middle:.1} %");
    assert!((26.0..=40.0).contains(&late), "late {late:.1} %");
    assert_eq!(handle.endpoints()[2].state, EndpointState::Active);
}

#[tokio::test(start_paused = true)]
async fn endpoints_added_and_removed_mid_traffic_fail_no_request() {
    let backends: Vec<Arc<Backend>> = (0..4)
        .map(|_| Backend::new(Duration::from_millis(5)))
        .collect();
    let (tx, rx) = discover::channel(16);
    let layer = BalanceLayer::builder()
        .with_config(config())
        .endpoint_layer(per_attempt_timeout())
        .build()
        .unwrap();
    let client = layer.discover(rx);
    for (i, backend) in backends.iter().enumerate().take(3) {
        tx.insert(i, backend.service()).await.unwrap();
    }
    let run = tokio::spawn(load(client, 16, Duration::from_secs(30), 0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    tx.insert(3, backends[3].service()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    tx.remove(0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    tx.remove(1).await.unwrap();
    let removed_at = [backends[0].calls(), backends[1].calls()];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tally = run.await.unwrap();
    let calls: Vec<u64> = backends.iter().map(|b| b.calls()).collect();
    println!(
        "changes: ok {} failed {}, calls {calls:?}",
        tally.ok(),
        tally.failed()
    );
    assert_eq!(tally.failed(), 0, "no request failed");
    assert!(calls[3] > 0, "the added endpoint took calls");
    // A removed endpoint takes no new call (at most the ones in flight
    // when it left, which finished).
    assert!(calls[1] - removed_at[1] <= 16);
    assert_eq!(layer.handle().endpoints().len(), 2);
}
