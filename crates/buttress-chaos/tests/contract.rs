//! The chaos layer keeps the layer contract: a config as data, a builder,
//! the one name rule (the dependency's name comes from the stack when the
//! config names none), a handle; and the same seed gives the same faults
//! however the layer was built.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::time::Duration;

use buttress_chaos::config::{AbortConfig, DelayConfig};
use buttress_chaos::{ChaosConfig, ChaosLayer, Latency};
use buttress_core::context::FaultAbort;
use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
use buttress_core::{GrpcCode, Reason, RequestContext};
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

fn dependency() -> impl Service<
    Request<()>,
    Response = Response<()>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<()>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: Request<()>| std::future::ready(Ok(Response::new(()))))
}

/// Which of `n` calls fail.
async fn failing(layer: &ChaosLayer, n: usize) -> Vec<bool> {
    let mut svc = layer.layer(dependency());
    let mut failed = Vec::with_capacity(n);
    for _ in 0..n {
        let result = svc.ready().await.unwrap().call(Request::new(())).await;
        failed.push(result.is_err());
    }
    failed
}

#[test]
fn builds_from_its_default_config_and_from_its_builder() {
    let from_config = ChaosLayer::from_config(&ChaosConfig::default()).unwrap();
    assert_eq!(from_config.handle().id().kind(), LayerKind::Chaos);
    assert_eq!(from_config.handle().id().name(), "chaos");
    let built = ChaosLayer::builder().build().unwrap();
    assert_eq!(built.handle().id().name(), "chaos");
    assert_eq!(ChaosLayer::builder().config(), &ChaosConfig::default());
}

#[tokio::test(start_paused = true)]
async fn a_stack_names_the_dependency_its_directives_use() {
    let config = ChaosConfig {
        directives: true,
        ..ChaosConfig::default()
    };
    let layer = config.build_in(&BuildEnv::named("recs")).unwrap();
    assert_eq!(layer.handle().id().name(), "recs");
    let ctx = RequestContext::starting_now()
        .with_raw_fault(HeaderValue::from_static("dependency=recs;abort=503"));
    let result = ctx
        .scope(layer.layer(dependency()).oneshot(Request::new(())))
        .await;
    assert!(result.is_err());

    // A config's own name wins over the stack's.
    let named = ChaosConfig {
        name: Some("inventory".into()),
        ..config.clone()
    };
    let layer = named.build_in(&BuildEnv::named("recs")).unwrap();
    assert_eq!(layer.handle().id().name(), "inventory");

    // A stack name directives cannot spell is refused.
    let err = config.build_in(&BuildEnv::named("my recs")).unwrap_err();
    assert_eq!(err.field(), "name");
}

#[tokio::test(start_paused = true)]
async fn the_builder_and_the_config_draw_the_same_faults() {
    let config = ChaosConfig {
        name: Some("payments".into()),
        abort: Some(AbortConfig {
            percent: 30.0,
            with: FaultAbort::Transport,
        }),
        delay: Some(DelayConfig {
            percent: 20.0,
            latency: Latency::fixed(Duration::from_millis(10)),
        }),
        seed: Some(11),
        ..ChaosConfig::default()
    };
    let builder = ChaosLayer::builder().name("payments").configure(|c| {
        c.abort = Some(AbortConfig {
            percent: 30.0,
            with: FaultAbort::Transport,
        });
        c.delay = Some(DelayConfig {
            percent: 20.0,
            latency: Latency::fixed(Duration::from_millis(10)),
        });
        c.seed = Some(11);
    });
    assert_eq!(builder.config(), &config);
    let a = failing(&builder.build().unwrap(), 200).await;
    let b = failing(&ChaosLayer::from_config(&config).unwrap(), 200).await;
    assert_eq!(a, b);
    let failed = a.iter().filter(|f| **f).count();
    assert!((30..90).contains(&failed), "{failed}");
}

#[tokio::test(start_paused = true)]
async fn the_handle_switches_and_counts_and_the_sink_hears() {
    let sink = RecordingSink::new();
    let layer = ChaosLayer::builder()
        .name("recs")
        .configure(|c| {
            c.abort = Some(AbortConfig {
                percent: 100.0,
                with: FaultAbort::Grpc(GrpcCode::Unavailable),
            });
            c.enabled = false;
        })
        .sink(sink.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    assert_eq!(failing(&layer, 3).await, [false; 3]);
    handle.enable();
    assert_eq!(failing(&layer, 2).await, [true; 2]);
    assert_eq!(handle.stats().calls, 5);
    assert_eq!(handle.stats().aborted, 2);
    assert_eq!(
        sink.events_for("recs"),
        vec![Event::Rejected(Reason::FaultInjected); 2]
    );
}

#[test]
fn config_errors_name_the_field() {
    let field = |config: ChaosConfig| config.validate().unwrap_err().field().to_owned();
    let bad = |abort| ChaosConfig {
        abort: Some(AbortConfig {
            percent: 1.0,
            with: abort,
        }),
        ..ChaosConfig::default()
    };
    assert_eq!(
        field(bad(FaultAbort::HttpStatus(StatusCode::OK))),
        "abort.with"
    );
    assert_eq!(field(bad(FaultAbort::Grpc(GrpcCode::Ok))), "abort.with");
    let delay = |percent, latency| ChaosConfig {
        delay: Some(DelayConfig { percent, latency }),
        ..ChaosConfig::default()
    };
    assert_eq!(
        field(delay(101.0, Latency::fixed(Duration::from_secs(1)))),
        "delay.percent"
    );
    assert_eq!(
        field(delay(
            1.0,
            Latency::uniform(Duration::from_secs(2), Duration::from_secs(1))
        )),
        "delay.latency.max"
    );
    assert_eq!(
        field(delay(1.0, Latency::exponential(Duration::ZERO))),
        "delay.latency.mean"
    );
    let short = ChaosConfig {
        max_delay: Duration::from_micros(10),
        ..ChaosConfig::default()
    };
    assert_eq!(field(short), "max_delay");
    let unnamed = ChaosConfig {
        name: Some(String::new()),
        ..ChaosConfig::default()
    };
    assert_eq!(field(unnamed), "name");
}

#[test]
fn the_config_loads_from_toml_in_the_directive_syntax() {
    let config: ChaosConfig = toml::from_str(
        r#"
        name = "recommendations"
        directives = true
        seed = 7
        max_delay = "5s"
        [abort]
        percent = 2.0
        with = "grpc:UNAVAILABLE"
        [delay]
        percent = 10.0
        latency = { kind = "exponential", mean = "80ms" }
        "#,
    )
    .unwrap();
    assert_eq!(config.name.as_deref(), Some("recommendations"));
    assert_eq!(
        config.abort.unwrap().with,
        FaultAbort::Grpc(GrpcCode::Unavailable)
    );
    assert_eq!(config.max_delay, Duration::from_secs(5));
    assert_eq!(config.max_active, buttress_chaos::DEFAULT_MAX_ACTIVE);
    config.validate().unwrap();
    for (text, abort) in [
        (
            "503",
            FaultAbort::HttpStatus(StatusCode::SERVICE_UNAVAILABLE),
        ),
        ("grpc:14", FaultAbort::Grpc(GrpcCode::Unavailable)),
        ("reset", FaultAbort::Transport),
    ] {
        let config: ChaosConfig =
            toml::from_str(&format!("abort = {{ percent = 1.0, with = \"{text}\" }}")).unwrap();
        assert_eq!(config.abort.unwrap().with, abort, "{text}");
    }
    for bad in ["200", "grpc:OK", "boom"] {
        let text = format!("abort = {{ percent = 1.0, with = \"{bad}\" }}");
        assert!(toml::from_str::<ChaosConfig>(&text).is_err(), "{bad}");
    }
    assert!(toml::from_str::<ChaosConfig>("max_actve = 3").is_err());
}
