//! Per-key breakers in core's bounded keyed map.

mod common;

use buttress_core::layer::LayerBuilder;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buttress_breaker::{CircuitBreakerLayer, State, WindowConfig};
use common::*;
use tower::{Layer, Service};

fn by_status_class(req: &Req) -> u16 {
    // A stand-in for a host or route key: the tests script the key.
    req.uri().port_u16().unwrap_or(0)
}

fn keyed_req(key: u16, status: u16) -> Req {
    let mut request = req(status);
    *request.uri_mut() = format!("http://dep:{key}/").parse().unwrap();
    request
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_breaker() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 4;
        })
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, keyed_req(1, 500)).await.unwrap();
        send(&svc, keyed_req(2, 200)).await.unwrap();
    }
    assert_eq!(layer.handle().breaker(&1).unwrap().state(), State::Open);
    assert_eq!(layer.handle().breaker(&2).unwrap().state(), State::Closed);
    assert!(rejection(&send(&svc, keyed_req(1, 200)).await).is_some());
    assert_eq!(send(&svc, keyed_req(2, 200)).await.unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_full_map_never_evicts_an_open_breaker() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 2 };
            c.minimum_calls = 2;
            c.wait = Duration::from_secs(60);
            c.max_keys = 2;
        })
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    for key in [1, 2] {
        for _ in 0..2 {
            send(&svc, keyed_req(key, 500)).await.unwrap();
        }
    }
    // Both slots hold open breakers: a new key gets the overflow entry
    // (admitted, not recorded), and the open ones stay.
    for _ in 0..20 {
        assert_eq!(send(&svc, keyed_req(3, 200)).await.unwrap(), 200);
    }
    // A failing new key overflows too: its failures trip nothing another
    // new key shares.
    for _ in 0..20 {
        assert_eq!(send(&svc, keyed_req(4, 500)).await.unwrap(), 500);
    }
    assert_eq!(send(&svc, keyed_req(3, 200)).await.unwrap(), 200);
    assert_eq!(layer.handle().breaker(&1).unwrap().state(), State::Open);
    assert_eq!(layer.handle().breaker(&2).unwrap().state(), State::Open);
    assert!(layer.handle().breaker(&3).is_none());
    assert!(layer.handle().key_stats().overflowed > 0);
}

#[tokio::test(start_paused = true)]
async fn quiet_closed_breakers_make_room_for_new_keys() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| c.max_keys = 2)
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    for key in 1..=50 {
        send(&svc, keyed_req(key, 200)).await.unwrap();
    }
    let stats = layer.handle().key_stats();
    assert!(stats.len <= 2);
    assert!(stats.evicted > 0);
    assert!(layer.handle().breaker(&50).is_some());
}

/// A dependency answering as scripted, counting the calls that reach each
/// key (its port).
fn dependency_by_key(
    hits: Arc<Mutex<HashMap<u16, usize>>>,
) -> impl Service<Req, Response = http::Response<()>, Error = Infallible, Future: Send> + Clone + Send
{
    tower::service_fn(move |req: Req| {
        *hits
            .lock()
            .unwrap()
            .entry(by_status_class(&req))
            .or_default() += 1;
        let status = req.body().status;
        async move { Ok(http::Response::builder().status(status).body(()).unwrap()) }
    })
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_open_breakers_does_not_lock_out_new_healthy_keys() {
    let wait = Duration::from_secs(30);
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 2;
            c.wait = wait;
            c.max_keys = 100;
        })
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(dependency(counter()));
    // The flood: 200 failing keys; the first 100 trip and fill the map.
    for key in 1_000..1_200 {
        for _ in 0..2 {
            send(&svc, keyed_req(key, 500)).await.unwrap();
        }
    }
    assert_eq!(handle.key_stats().len, 100);
    assert_eq!(handle.breaker(&1_000).unwrap().state(), State::Open);

    // Right after it, and 2 s later, every new healthy key is admitted
    // (before: refused by an overflow breaker the flood had tripped).
    for round in [0, 2] {
        tokio::time::advance(Duration::from_secs(round)).await;
        let admitted = (2_000..2_050)
            .map(|key| keyed_req(key + round as u16 * 100, 200))
            .collect::<Vec<_>>();
        let mut ok = 0;
        for request in admitted {
            ok += usize::from(send(&svc, request).await.unwrap() == 200);
        }
        assert_eq!(ok, 50, "{round} s after the flood");
    }
    // Calls of the flood's keys still reach them: protected, not flushed.
    assert!(rejection(&send(&svc, keyed_req(1_000, 200)).await).is_some());

    // Once a whole wait passes without a call, the open breakers are idle
    // and make room: new keys get breakers of their own again.
    tokio::time::advance(wait).await;
    for key in 3_000..3_050 {
        assert_eq!(send(&svc, keyed_req(key, 200)).await.unwrap(), 200);
    }
    assert!(handle.breaker(&3_049).is_some());
    let stats = handle.key_stats();
    assert!(stats.evicted > 0 && stats.len <= 100, "{stats:?}");
    // The one the test called after the flood was kept longest.
    assert!(handle.breaker(&1_000).is_some());
}

#[tokio::test(start_paused = true)]
async fn closed_breakers_holding_failures_make_room_for_new_keys() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| c.max_keys = 100)
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(dependency(counter()));
    // A count window never ages: each of these keys holds its one failure
    // for good (before: never evicted, so the map stayed full forever).
    for key in 1_000..1_100 {
        send(&svc, keyed_req(key, 500)).await.unwrap();
    }
    assert_eq!(handle.breaker(&1_000).unwrap().stats().failures, 1);
    for key in 2_000..2_050 {
        assert_eq!(send(&svc, keyed_req(key, 200)).await.unwrap(), 200);
        assert!(handle.breaker(&key).is_some(), "key {key} has no breaker");
    }
    let stats = handle.key_stats();
    assert_eq!(stats.overflowed, 0, "{stats:?}");
    assert!(stats.evicted >= 50 && stats.len <= 100, "{stats:?}");
    // (Which of the flood's keys went is a matter of recency, which the
    // map counts in sweeps: these were all inserted before the first.)
}

#[tokio::test(start_paused = true)]
async fn quiet_breakers_go_before_ones_holding_failures() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| c.max_keys = 16)
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(dependency(counter()));
    // The keys holding failures are the least recently used of all.
    for key in 1..=4 {
        send(&svc, keyed_req(key, 500)).await.unwrap();
    }
    for key in 100..112 {
        send(&svc, keyed_req(key, 200)).await.unwrap();
    }
    for key in 200..212 {
        send(&svc, keyed_req(key, 200)).await.unwrap();
    }
    for key in 1..=4 {
        assert!(handle.breaker(&key).is_some(), "key {key} was evicted");
    }
    assert_eq!(handle.key_stats().overflowed, 0);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_calls_keep_reaching_survives_rotating_keys() {
    let wait = Duration::from_secs(10);
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 2;
            c.wait = wait;
            c.permitted_probes = 1;
            c.max_keys = 50;
        })
        .name("hosts")
        .build_keyed(by_status_class)
        .unwrap();
    let handle = layer.handle();
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let svc = layer.layer(dependency_by_key(hits.clone()));
    // Key 1 is down, and called once a second throughout.
    for _ in 0..2 {
        send(&svc, keyed_req(1, 500)).await.unwrap();
    }
    assert_eq!(handle.breaker(&1).unwrap().state(), State::Open);
    // Meanwhile an attacker rotates through 1,000 new keys a second, 20
    // times the map's capacity, half of them failing.
    let mut next = 10_000u16;
    for _second in 0..60 {
        for _ in 0..10 {
            for _ in 0..100 {
                let status = if next.is_multiple_of(2) { 200 } else { 500 };
                send(&svc, keyed_req(next, status)).await.unwrap();
                next = if next == u16::MAX { 10_000 } else { next + 1 };
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        let _ = send(&svc, keyed_req(1, 500)).await;
        assert!(
            handle.breaker(&1).is_some(),
            "the protected key was flushed"
        );
    }
    // Two calls tripped it, then one probe per wait: 2 + 60 s / 10 s. Had it
    // been flushed, most of the 60 calls would have reached the dependency.
    let reached = hits.lock().unwrap()[&1];
    assert!(reached <= 2 + 6, "{reached} calls reached the failing key");
    assert!(handle.key_stats().evicted > 1_000);
}
