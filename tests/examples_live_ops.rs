//! `examples/live_ops.rs` on real sockets: the API on one listener, the
//! admin router on another; a change to the config file reaches the
//! running stack and shows on the admin router.

#![cfg(all(
    feature = "admin",
    feature = "stack",
    feature = "serde",
    feature = "serve"
))]

#[path = "../examples/live_ops.rs"]
mod live_ops;
mod support;

use std::time::Duration;

use support::Connection;

#[tokio::test]
async fn the_example_serves_api_and_admin_apart_and_follows_its_file() {
    let scratch = support::scratch::Scratch::new("live-ops");
    let path = scratch.path("service.toml");
    let original = std::fs::read_to_string("examples/service.toml").unwrap();
    std::fs::write(&path, &original).unwrap();

    let health = buttress::metrics::MetricsSink::new().health().clone();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (api_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
    let reloader = live_ops::start(&path, health, public, admin).await;

    let mut api = Connection::open(api_addr).await;
    assert_eq!(api.get("/orders/7", &[]).await.status, 200);
    assert_eq!(
        api.get("/config", &[]).await.status,
        404,
        "no admin route on the API"
    );
    let mut ops = Connection::open(admin_addr).await;
    let running = ops.get("/config", &[]).await;
    assert!(String::from_utf8_lossy(&running.body).contains("max_concurrent = 256"));

    let edited = original.replacen("max_concurrent = 256", "max_concurrent = 64", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, edited).unwrap();
    let waited = tokio::time::Instant::now();
    while reloader.status().applied == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "{:?}",
            reloader.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let running = ops.get("/config", &[]).await;
    assert!(String::from_utf8_lossy(&running.body).contains("max_concurrent = 64"));
    let status = ops.get("/config/status", &[]).await;
    assert!(String::from_utf8_lossy(&status.body).contains(r#""applied":1"#));
}
