//! A keyed breaker's memory, measured by a counting global allocator:
//! each key within `key_memory()` (under 16 KiB with any time window),
//! all keys within `MAX_KEYED_MEMORY`, and nothing allocated for a new key
//! that finds the map full.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress_breaker::{BreakerConfig, CircuitBreakerLayer, MAX_KEYED_MEMORY, WindowConfig};
use buttress_core::layer::{LayerBuilder, LayerConfig};
use common::*;
use tower::{Layer, Service};

fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the test service answers at once"),
    }
}

fn call<S>(svc: &mut S, request: Req) -> Result<http::Response<()>, buttress_core::BoxError>
where
    S: Service<Req, Response = http::Response<()>, Error = buttress_core::BoxError>,
{
    ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    ready(svc.call(request))
}

/// A request for the key `path`, failing or not.
fn to(path: &str, status: u16) -> Req {
    let mut request = req(status);
    *request.uri_mut() = path.parse().unwrap();
    request
}

fn by_path(request: &Req) -> String {
    request.uri().path().to_owned()
}

const HOUR: Duration = Duration::from_secs(3_600);

fn windows() -> Vec<WindowConfig> {
    let time = |buckets| WindowConfig::Time {
        duration: HOUR,
        buckets,
    };
    vec![
        WindowConfig::Count { size: 1 },
        WindowConfig::Count { size: 100 },
        WindowConfig::Count { size: 10_000 },
        time(1),
        time(10),
        time(100),
        time(512),
        time(513),
        time(1_000),
    ]
}

#[test]
fn each_key_takes_at_most_key_memory_and_under_16_kib_with_a_time_window() {
    const KEYS: usize = 1_000;
    for window in windows() {
        let config = BreakerConfig {
            window,
            minimum_calls: 1,
            max_keys: KEYS,
            ..BreakerConfig::default()
        };
        // Request URIs are built beforehand: the measure holds the layer
        // (its map, its overflow entry) and what each key adds, a short
        // string key's heap included.
        let requests: Vec<Req> = (0..KEYS)
            .map(|key| to(&format!("/host-{key}"), 200))
            .collect();
        let mut held = None;
        let info = allocation_counter::measure(|| {
            let layer = CircuitBreakerLayer::builder()
                .with_config(config.clone())
                .build_keyed(by_path)
                .unwrap();
            let mut svc = layer.layer(dependency(counter()));
            for request in requests {
                call(&mut svc, request).unwrap();
            }
            held = Some((layer, svc));
        });
        let (layer, _svc) = held.unwrap();
        let handle = layer.handle();
        assert_eq!(handle.key_stats().len, KEYS);
        let per_key = info.bytes_current as usize / KEYS;
        println!(
            "{window:?}: {per_key} bytes a key (bound {})",
            handle.key_memory()
        );
        assert!(
            per_key <= handle.key_memory(),
            "{window:?}: {per_key} bytes"
        );
        assert_eq!(handle.key_memory(), config.key_memory());
        if let WindowConfig::Time { .. } = window {
            assert!(per_key <= 16 * 1024, "{window:?}: {per_key} bytes");
            assert!(config.key_memory() <= 10_240, "{window:?}");
        }
    }
}

#[test]
fn a_thousand_bucket_window_takes_under_10_kib_a_key() {
    // The finding: 256 KiB to 1 MiB a key (+254 MB for 1,000 keys).
    let config = BreakerConfig {
        window: WindowConfig::Time {
            duration: Duration::from_secs(60),
            buckets: 1_000,
        },
        max_keys: 1_000,
        ..BreakerConfig::default()
    };
    let layer = CircuitBreakerLayer::builder()
        .with_config(config)
        .build_keyed(by_path)
        .unwrap();
    let mut svc = layer.layer(dependency(counter()));
    let requests: Vec<Req> = (0..1_000).map(|k| to(&format!("/{k}"), 200)).collect();
    let info = allocation_counter::measure(|| {
        for request in requests {
            call(&mut svc, request).unwrap();
        }
    });
    let per_key = info.bytes_current as usize / 1_000;
    println!("1,000 buckets: {per_key} bytes a key");
    assert!(per_key <= 10 * 1024, "{per_key}");
}

#[test]
fn all_keys_together_stay_within_64_mib() {
    let keyed = |window, max_keys| BreakerConfig {
        window,
        max_keys,
        minimum_calls: 1,
        ..BreakerConfig::default()
    };
    let count = |size| WindowConfig::Count { size };
    // The finding's gigabyte: a million-call window for each of 1,000 keys.
    // A single breaker may have one; a keyed one may not.
    let gigabyte = keyed(count(1_000_000), 1_000);
    gigabyte.validate().unwrap();
    let err = gigabyte.validate_keyed().unwrap_err();
    assert_eq!(err.field(), "window.size");
    assert!(err.problem().contains("67108864"), "{err}");
    let built = CircuitBreakerLayer::builder()
        .with_config(gigabyte.clone())
        .build_keyed(by_path)
        .unwrap_err();
    assert_eq!(built, err);
    // The same window for fewer keys fits.
    keyed(count(1_000_000), 60).validate_keyed().unwrap();
    // With 1,000 keys, windows up to 65,000 calls fit, 66,000 do not.
    keyed(count(65_000), 1_000).validate_keyed().unwrap();
    assert_eq!(
        keyed(count(66_000), 1_000)
            .validate_keyed()
            .unwrap_err()
            .field(),
        "window.size"
    );
    // Too many keys for even a one-call window: `max_keys` is at fault.
    assert_eq!(
        keyed(count(1), 1_000_000)
            .validate_keyed()
            .unwrap_err()
            .field(),
        "max_keys"
    );
    let hour = WindowConfig::Time {
        duration: HOUR,
        buckets: 1_000,
    };
    keyed(hour, 1_000).validate_keyed().unwrap();
    assert_eq!(
        keyed(hour, 10_000).validate_keyed().unwrap_err().field(),
        "max_keys"
    );
    // Every other field is still checked first.
    let err = BreakerConfig {
        failure_rate: 0.0,
        ..gigabyte
    }
    .validate_keyed()
    .unwrap_err();
    assert_eq!(err.field(), "failure_rate");

    // Whatever is accepted keeps its bound.
    let mut rng = fastrand::Rng::with_seed(20);
    for _ in 0..10_000 {
        let window = if rng.bool() {
            count(rng.u32(1..=1_000_000))
        } else {
            WindowConfig::Time {
                duration: HOUR,
                buckets: rng.u32(1..=1_000),
            }
        };
        let config = keyed(window, rng.usize(1..=200_000));
        if config.validate_keyed().is_ok() {
            assert!(config.key_memory() * config.max_keys <= MAX_KEYED_MEMORY);
        }
    }
}

#[test]
fn a_new_key_against_a_full_map_allocates_nothing() {
    // Count windows of 50,000 calls: before, every new key's call built
    // (and zeroed) one, then dropped it for the overflow breaker.
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 50_000 };
            c.minimum_calls = 2;
            c.max_keys = 100;
        })
        .build_keyed(by_path)
        .unwrap();
    let mut svc = layer.layer(dependency(counter()));
    for key in 0..100 {
        for _ in 0..2 {
            call(&mut svc, to(&format!("/flood-{key}"), 500)).unwrap();
        }
    }
    assert_eq!(layer.handle().key_stats().len, 100);
    let known: Vec<Req> = (0..1_000).map(|_| to("/flood-7", 200)).collect();
    let new: Vec<Req> = (0..1_000)
        .map(|key| to(&format!("/new-{key}"), 200))
        .collect();
    // The extractor's `String` is the caller's cost, the same for both.
    let known_cost = allocation_counter::measure(|| {
        for request in known {
            let _ = call(&mut svc, request);
        }
    });
    let new_cost = allocation_counter::measure(|| {
        for request in new {
            call(&mut svc, request).unwrap();
        }
    });
    // Known: rejected, one boxed `Rejected` each, and the key's string.
    assert_eq!(known_cost.count_total, 2 * 1_000, "{known_cost:?}");
    // New: admitted through the overflow entry; only the key's string.
    assert_eq!(new_cost.count_total, 1_000, "{new_cost:?}");
    assert!(new_cost.bytes_total <= 1_000 * 16, "{new_cost:?}");
    assert_eq!(layer.handle().key_stats().len, 100);
    assert!(layer.handle().key_stats().overflowed >= 1_000);
}
