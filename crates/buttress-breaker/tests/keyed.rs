//! Per-key breakers in core's bounded keyed map.

mod common;

use buttress_core::layer::LayerBuilder;
use std::time::Duration;

use buttress_breaker::{CircuitBreakerLayer, State, WindowConfig};
use common::*;
use tower::Layer;

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
    // Both slots hold open breakers: a new key gets the overflow breaker,
    // and the open ones stay.
    for _ in 0..20 {
        assert_eq!(send(&svc, keyed_req(3, 200)).await.unwrap(), 200);
    }
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
