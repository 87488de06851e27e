//! (15) A discovery source gone wrong: a balanced client stack fed 5,000
//! distinct endpoints (a DNS answer or service registry flooded by
//! mistake or on purpose), then all but three taken away.
//!
//! The balancer's table holds at most `MAX_ENDPOINTS` (4,096); past it
//! endpoints are dropped with a warning. Each endpoint it admits gets the
//! stack's breaker, bulkhead and timeout of its own, but reports under a
//! name of its own only while fewer than `max_endpoint_labels` hold one
//! (the rest report nothing of their own), so the distinct names a
//! metrics backend sees stay bounded. When the flood is taken away, the names'
//! slots come back and the three real replicas serve every request.
//! Paused clock.

use std::collections::BTreeSet;
use std::time::Duration;

use buttress::balance::{BalanceConfig, MAX_ENDPOINTS, discover};
use buttress::metrics::MetricsSink;
use buttress::stack::ClientStack;
use tower::ServiceExt;

/// Endpoints the flood brings, the three real ones included.
const FLOOD: u32 = 5_000;

/// The distinct layer names the health view lists.
fn names(sink: &MetricsSink) -> BTreeSet<String> {
    let json = sink.health().layers_json();
    json.split("\"name\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_discovered_endpoints_stays_bounded_and_leaves_nothing_behind() {
    let sink = MetricsSink::new();
    let layer = ClientStack::new("inventory")
        .clone_requests()
        .sink(sink.clone())
        .configure(|c| {
            c.balance = Some(BalanceConfig {
                seed: Some(3),
                ..BalanceConfig::default()
            })
        })
        .build()
        .unwrap();
    let (endpoints, changes) = discover::channel(1_024);
    let client = layer.balanced_discover(changes).unwrap();
    let replica = tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::io::Error>(http::Response::new(()))
    });

    // Three real replicas, then the flood: 4,997 more that answer like
    // them.
    for n in 0..3u32 {
        endpoints.insert(n, replica).await.unwrap();
    }
    let feeder = tokio::spawn(async move {
        for n in 3..FLOOD {
            endpoints.insert(n, replica).await.unwrap();
        }
        endpoints
    });
    let mut peak = 0;
    let mut calls = 0u32;
    while !feeder.is_finished() {
        // Calls drive discovery.
        client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        calls += 1;
        if calls.is_multiple_of(64) {
            peak = peak.max(layer.balance().unwrap().endpoints().len());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let endpoints = feeder.await.unwrap();
    for _ in 0..50 {
        client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
    }
    peak = peak.max(layer.balance().unwrap().endpoints().len());
    let during = names(&sink);
    println!(
        "endpoint flood: table peak {peak}, distinct telemetry names {}",
        during.len()
    );
    assert!(peak <= MAX_ENDPOINTS, "the table is capped: {peak}");
    // Per-endpoint names: at most the stack's 16 and the balancer's 16,
    // plus the stack's own name and the balancer's.
    assert!(during.len() <= 16 + 16 + 2, "{during:?}");

    // Take the flood away, keep three.
    let removal = tokio::spawn(async move {
        for n in 3..FLOOD {
            endpoints.remove(n).await.unwrap();
        }
        endpoints
    });
    let (mut ok, mut tried) = (0u32, 0u32);
    while !removal.is_finished() {
        tried += 1;
        ok += u32::from(client.clone().oneshot(http::Request::new(())).await.is_ok());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(ok, tried, "no call failed while the flood was taken away");
    let _endpoints = removal.await.unwrap();
    for _ in 0..200 {
        client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
    }
    let left = layer.balance().unwrap().endpoints();
    let after = names(&sink);
    println!(
        "endpoint flood: after removal {} endpoints, {ok} calls ok during it, names {:?}",
        left.len(),
        after
    );
    assert_eq!(left.len(), 3, "only the three real replicas remain");
    for endpoint in ["0", "1", "2"] {
        assert!(
            after.contains(&format!("inventory/{endpoint}")),
            "the replicas that stayed keep their names: {after:?}"
        );
    }
}
