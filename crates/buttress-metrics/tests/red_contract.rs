//! The RED layer keeps the layer contract: built from data or a builder,
//! named by the one rule, registered with its sink, observed by a handle.

mod support;

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::time::Duration;

use buttress_core::RequestContext;
use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{LayerId, LayerKind, RecordingSink};
use buttress_metrics::{MetricsSink, RedConfig, RedLayer, RedLayerBuilder, RedSide};
use metrics_util::debugging::DebugValue;
use support::{recorder, values};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

#[test]
fn every_way_of_building_follows_one_name_rule() {
    let bare = RedLayer::builder().build().unwrap();
    assert_eq!(bare.handle().id(), &LayerId::new(LayerKind::Red, "red"));

    let sink = RecordingSink::new();
    let config = RedConfig {
        side: RedSide::Client,
        ..RedConfig::default()
    };
    let in_env = config
        .build_in(&BuildEnv::named("payments").with_sink(sink.clone()))
        .unwrap();
    assert_eq!(in_env.handle().id().name(), "payments");
    let named = RedLayer::builder()
        .with_config(config)
        .name("ledger")
        .sink(sink.clone())
        .build()
        .unwrap();
    assert_eq!(named.handle().id().name(), "ledger");
    assert_eq!(
        sink.registered(),
        vec![
            LayerId::new(LayerKind::Red, "payments"),
            LayerId::new(LayerKind::Red, "ledger")
        ]
    );
    assert!(RedLayer::from_config(&RedConfig::default()).is_ok());

    let field = |builder: RedLayerBuilder| builder.build().unwrap_err().field().to_owned();
    assert_eq!(field(RedLayer::builder().name("")), "name");
    assert_eq!(
        field(RedLayer::builder().configure(|c| c.route_cap = 4097)),
        "route_cap"
    );
    assert!(
        RedLayer::builder()
            .configure(|c| c.route_cap = 4096)
            .build()
            .is_ok()
    );
    assert_eq!(
        field(RedLayer::builder().configure(|c| c.max_route_len = 0)),
        "max_route_len"
    );
    assert_eq!(
        field(RedLayer::builder().configure(|c| c.max_route_len = 4097)),
        "max_route_len"
    );
    assert_eq!(
        field(RedLayer::builder().configure(|c| c.route_bytes = (1 << 20) + 1)),
        "route_bytes"
    );
    assert_eq!(
        field(RedLayer::builder().configure(|c| {
            c.max_route_len = 512;
            c.route_bytes = 511;
        })),
        "route_bytes"
    );
}

#[test]
fn a_metrics_sink_keeps_no_event_counters_for_a_red_layer() {
    let (recorder, snapshotter) = recorder();
    let sink = MetricsSink::new();
    let red = metrics::with_local_recorder(&recorder, || {
        RedLayer::builder()
            .name("checkout")
            .sink(sink.clone())
            .build()
            .unwrap()
    });
    let svc = red.layer(tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(svc.oneshot(http::Request::new(())))
            .unwrap();
    });
    let seen = values(&snapshotter);
    assert!(
        seen.keys().all(|key| key.starts_with("http.server.")),
        "{seen:?}"
    );
    assert!(
        seen.contains_key("http.server.active_requests{buttress.name=checkout,http.request.method=GET,url.scheme=http}"),
        "{seen:?}"
    );
    assert!(!sink.health().report_json().contains("checkout"));
}

/// The durations `red` records for one request carrying a context that
/// started ten seconds before the call.
async fn recorded_duration(side: RedSide) -> f64 {
    let (recorder, snapshotter) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let red = RedLayer::builder()
        .configure(|c| c.side = side)
        .name("a")
        .build()
        .unwrap();
    let svc = red.layer(tower::service_fn(|_req: http::Request<()>| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let earlier = Instant::now();
    tokio::time::advance(Duration::from_secs(10)).await;
    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(RequestContext::new(earlier));
    svc.oneshot(request).await.unwrap();
    let samples: Vec<f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Histogram(samples) if key.key().name().ends_with("request.duration") => {
                Some(samples.into_iter().map(|s| s.into_inner()))
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(samples.len(), 1);
    samples[0]
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_server_times_the_request_and_a_client_times_its_call() {
    // A server's request started when its context did.
    let server = recorded_duration(RedSide::Server).await;
    assert!((server - 10.03).abs() < 1e-6, "{server}");
    // A client's call starts when it is made, whatever context it carries.
    let client = recorded_duration(RedSide::Client).await;
    assert!((client - 0.03).abs() < 1e-6, "{client}");
}

#[test]
fn a_toml_config_builds_the_layer() {
    let config: RedConfig = toml::from_str(
        r#"
        name = "payments"
        side = "client"
        route_cap = 0
        "#,
    )
    .unwrap();
    assert_eq!(
        config,
        RedConfig {
            name: Some("payments".into()),
            side: RedSide::Client,
            route_cap: 0,
            ..RedConfig::default()
        }
    );
    let layer = RedLayer::from_config(&config).unwrap();
    assert_eq!(layer.handle().route_labels(), 1);
    assert!(toml::from_str::<RedConfig>(r#"side = "proxy""#).is_err());
    assert!(toml::from_str::<RedConfig>("routes = 3").is_err());
}
