//! (client) A flood of distinct servers through one client stack.
//!
//! A client whose calls name a host the caller chose (a proxy, a webhook
//! sender) sees as many `server.address` values as its callers invent.
//! The client stack's metrics keep at most `server_cap` (16) of them and
//! count the rest as `_OTHER`; each service remembers the last server it
//! named, so the real dependency's calls, interleaved with the flood,
//! must still land under their own label, one for one.
//!
//! The default client stack over an in-process transport, 4,000 calls on
//! one service: every other call to the real dependency, the rest each to
//! a host never seen before (with user info on some, which is never a
//! label).

use std::collections::BTreeMap;
use std::convert::Infallible;

use buttress::stack::ClientStack;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{Layer, Service, ServiceExt};

const CALLS: usize = 4_000;

#[test]
fn a_flood_of_hosts_keeps_labels_bounded_and_the_real_server_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let layer = ClientStack::new("webhooks")
        .clone_requests()
        .build()
        .unwrap();
    let transport = tower::service_fn(|_: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    });
    let mut client = layer.layer(transport);
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            for i in 0..CALLS {
                let uri = match i % 4 {
                    0 | 2 => "http://api.internal:8080/hook".to_owned(),
                    1 => format!("http://h{i}.attacker.example:9/x"),
                    _ => format!("http://user:secret{i}@h{i}.attacker.example:9/x"),
                };
                let request = http::Request::get(uri).body(()).unwrap();
                let response = client.ready().await.unwrap().call(request).await;
                assert_eq!(response.unwrap().status(), 200);
            }
        });
    });
    let labels = layer
        .metrics()
        .expect("metrics are on by default")
        .server_labels();
    assert!(
        labels <= 17,
        "{labels} server labels: 16 at most, and _OTHER"
    );

    let mut by_server: BTreeMap<String, u64> = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != "http.client.request.duration" {
            continue;
        }
        let server = key
            .labels()
            .find(|l| l.key() == "server.address")
            .map_or("none", |l| l.value())
            .to_owned();
        assert!(!server.contains("secret"), "user info as a label: {server}");
        if let DebugValue::Histogram(samples) = value {
            *by_server.entry(server).or_default() += samples.len() as u64;
        }
    }
    let total: u64 = by_server.values().sum();
    assert_eq!(total, CALLS as u64, "{by_server:?}");
    assert_eq!(
        by_server.get("api.internal"),
        Some(&(CALLS as u64 / 2)),
        "the real dependency, one for one: {by_server:?}"
    );
    assert!(by_server.len() <= 17, "{by_server:?}");
}
