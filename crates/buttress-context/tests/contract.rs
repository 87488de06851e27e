//! Both layers keep the layer contract: a config as data, a builder, the
//! same name rule, a handle; and the config, built, behaves as the
//! builder does.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::time::Duration;

use buttress_context::client::{ClientContextConfig, ClientContextLayer};
use buttress_context::id::{IdFormat, IdMode, MakeCorrelationId};
use buttress_context::server::{ServerContextConfig, ServerContextLayer, TrustConfig};
use buttress_core::context::CorrelationId;
use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
use buttress_core::{Criticality, Reason, RequestContext, TrustPolicy};
use http::{HeaderMap, Request, Response};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// Serves one request through `layer`, returning what the handler saw.
async fn seen(layer: &ServerContextLayer, headers: &[(&str, &str)]) -> RequestContext {
    let handler = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(RequestContext::current().unwrap()))
    });
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).unwrap();
    layer
        .layer(handler)
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
}

#[test]
fn every_layer_builds_from_its_default_config_and_from_its_builder() {
    let server = ServerContextLayer::from_config(&ServerContextConfig::default()).unwrap();
    assert_eq!(server.handle().id().kind(), LayerKind::Context);
    assert_eq!(server.handle().id().name(), "context");
    let server = ServerContextLayer::builder().build().unwrap();
    assert_eq!(server.handle().id().name(), "context");
    assert_eq!(
        ServerContextLayer::builder().config(),
        &ServerContextConfig::default()
    );

    let client = ClientContextLayer::from_config(&ClientContextConfig::default()).unwrap();
    assert_eq!(client.handle().id().kind(), LayerKind::Context);
    assert_eq!(client.handle().id().name(), "context");
    let client = ClientContextLayer::builder().build().unwrap();
    assert_eq!(client.handle().id().name(), "context");
    assert_eq!(
        ClientContextLayer::builder().config(),
        &ClientContextConfig::default()
    );
}

#[test]
fn names_follow_the_one_rule() {
    let env = BuildEnv::named("checkout");
    let server = ServerContextConfig::default().build_in(&env).unwrap();
    assert_eq!(server.handle().id().name(), "checkout");
    let named = ServerContextConfig {
        name: Some("edge".into()),
        ..Default::default()
    };
    assert_eq!(named.build_in(&env).unwrap().handle().id().name(), "edge");

    let client = ClientContextLayer::builder().env(env).build().unwrap();
    assert_eq!(client.handle().id().name(), "checkout");
}

#[test]
fn the_builder_writes_the_config_it_builds() {
    let builder = ServerContextLayer::builder()
        .configure(|c| {
            c.id_header = "x-trace-id".into();
            c.also_accept = vec![];
            c.id_mode = IdMode::Generate;
            c.id_format = IdFormat::UuidV4;
            c.id_max_len = 64;
            c.id_extra_chars = "+=".into();
            c.max_deadline = Some(Duration::from_secs(5));
            c.default_deadline = Some(Duration::from_secs(1));
            c.default_criticality = Criticality::Sheddable.as_str().into();
            c.max_fault_len = None;
            c.sample_new_traces = true;
        })
        .name("edge");
    let expected = ServerContextConfig {
        name: Some("edge".into()),
        id_header: "x-trace-id".into(),
        also_accept: vec![],
        id_mode: IdMode::Generate,
        id_format: IdFormat::UuidV4,
        id_max_len: 64,
        id_extra_chars: "+=".into(),
        max_deadline: Some(Duration::from_secs(5)),
        default_deadline: Some(Duration::from_secs(1)),
        default_criticality: "SHEDDABLE".into(),
        max_fault_len: None,
        sample_new_traces: true,
        ..Default::default()
    };
    assert_eq!(builder.config(), &expected);
    expected.validate().unwrap();
    let handle = builder.build().unwrap().handle();
    assert_eq!(handle.id_header(), "x-trace-id");
    assert_eq!(handle.id_mode(), IdMode::Generate);
    assert_eq!(handle.max_deadline(), Some(Duration::from_secs(5)));
    assert_eq!(handle.default_deadline(), Some(Duration::from_secs(1)));
    assert_eq!(handle.default_criticality(), Criticality::Sheddable);

    let client = ClientContextLayer::builder().configure(|c| {
        c.deadline_margin = Duration::ZERO;
        c.propagate_fault = false;
        c.id_header = "x-trace-id".into();
    });
    assert_eq!(
        client.config(),
        &ClientContextConfig {
            id_header: "x-trace-id".into(),
            deadline_margin: Duration::ZERO,
            propagate_fault: false,
            ..Default::default()
        }
    );
    let handle = client.build().unwrap().handle();
    assert!(!handle.propagates_fault());
    assert_eq!(handle.deadline_margin(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn trust_as_data_is_trust_in_code() {
    let by_header = ServerContextLayer::from_config(&ServerContextConfig {
        trust: TrustConfig::Header {
            name: "x-gateway".into(),
            value: "s3cret".into(),
        },
        ..Default::default()
    })
    .unwrap();
    let ctx = seen(
        &by_header,
        &[("x-gateway", "s3cret"), ("x-request-id", "abc")],
    )
    .await;
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "abc");
    let ctx = seen(
        &by_header,
        &[("x-gateway", "guess"), ("x-request-id", "abc")],
    )
    .await;
    assert_ne!(ctx.correlation_id().unwrap().as_str(), "abc");

    let always = ServerContextLayer::from_config(&ServerContextConfig {
        trust: TrustConfig::Always,
        ..Default::default()
    })
    .unwrap();
    let ctx = seen(&always, &[("x-request-timeout-ms", "150")]).await;
    assert_eq!(
        ctx.deadline(),
        Some(ctx.start() + Duration::from_millis(150))
    );
    let never = ServerContextLayer::from_config(&ServerContextConfig::default()).unwrap();
    let ctx = seen(&never, &[("x-request-timeout-ms", "150")]).await;
    assert_eq!(ctx.deadline(), None);

    // The secret stays out of logs.
    let header = TrustConfig::Header {
        name: "x-gateway".into(),
        value: "s3cret".into(),
    };
    assert!(!format!("{header:?}").contains("s3cret"));
}

#[tokio::test(start_paused = true)]
async fn the_builders_policy_and_id_maker_take_the_place_of_the_configs() {
    struct Fixed;
    impl MakeCorrelationId for Fixed {
        fn make_id(&self) -> CorrelationId {
            CorrelationId::parse(b"made-here").unwrap()
        }
    }
    let config = ServerContextConfig {
        trust: TrustConfig::Always,
        id_mode: IdMode::Generate,
        id_format: IdFormat::UuidV4,
        ..Default::default()
    };
    let builder = ServerContextLayer::builder().with_config(config.clone());
    assert_eq!(builder.config(), &config);
    let layer = builder
        .trust(TrustPolicy::never())
        .make_id(Fixed)
        .build()
        .unwrap();
    let ctx = seen(&layer, &[("x-request-timeout-ms", "150")]).await;
    assert_eq!(ctx.deadline(), None);
    assert_eq!(ctx.correlation_id().unwrap().as_str(), "made-here");

    // The config alone trusts the caller and makes UUIDs.
    let layer = ServerContextLayer::from_config(&config).unwrap();
    let ctx = seen(&layer, &[("x-request-timeout-ms", "150")]).await;
    assert_eq!(
        ctx.deadline(),
        Some(ctx.start() + Duration::from_millis(150))
    );
    assert_eq!(ctx.correlation_id().unwrap().as_str().len(), 36);
}

#[tokio::test(start_paused = true)]
async fn the_x_correlation_id_preset_builds_and_reads_that_header_first() {
    // Once panicked: its ID header was also in the default `also_accept`.
    let layer = ServerContextLayer::x_correlation_id();
    let trusted = ServerContextLayer::builder()
        .with_config(ServerContextConfig {
            id_header: "x-correlation-id".into(),
            also_accept: vec!["x-request-id".into()],
            ..Default::default()
        })
        .trust(TrustPolicy::always())
        .build()
        .unwrap();
    assert_eq!(layer.handle().id_header(), "x-correlation-id");
    let both = [("x-request-id", "second"), ("x-correlation-id", "first")];
    assert_eq!(
        seen(&trusted, &both)
            .await
            .correlation_id()
            .unwrap()
            .as_str(),
        "first"
    );
    let one = [("x-request-id", "second")];
    assert_eq!(
        seen(&trusted, &one)
            .await
            .correlation_id()
            .unwrap()
            .as_str(),
        "second"
    );
}

#[test]
fn config_errors_name_the_field() {
    let field = |config: ServerContextConfig| config.validate().unwrap_err().field().to_owned();
    let bad_peers = ServerContextConfig {
        trust: TrustConfig::Peers(vec!["not-a-net".into()]),
        ..Default::default()
    };
    assert_eq!(field(bad_peers), "trust.peers");
    let bad_header = ServerContextConfig {
        trust: TrustConfig::Header {
            name: "bad name".into(),
            value: "v".into(),
        },
        ..Default::default()
    };
    assert_eq!(field(bad_header), "trust.header.name");
    let bad_value = ServerContextConfig {
        trust: TrustConfig::Header {
            name: "x-gateway".into(),
            value: "line\nbreak".into(),
        },
        ..Default::default()
    };
    assert_eq!(field(bad_value), "trust.header.value");
    let long_deadline = ServerContextConfig {
        max_deadline: Some(Duration::from_secs(2 * 86_400)),
        ..Default::default()
    };
    assert_eq!(field(long_deadline), "max_deadline");
    let bad_id_header = ServerContextConfig {
        id_header: "x request id".into(),
        ..Default::default()
    };
    assert_eq!(field(bad_id_header), "id_header");
    let bad_chars = ServerContextConfig {
        id_extra_chars: "<".into(),
        ..Default::default()
    };
    assert_eq!(field(bad_chars), "id_extra_chars");

    let clash = ClientContextConfig {
        deadline_header: "x-request-id".into(),
        ..Default::default()
    };
    assert_eq!(clash.validate().unwrap_err().field(), "id_header");
}

#[tokio::test(start_paused = true)]
async fn a_sink_given_to_the_builder_hears_the_refusals() {
    let sink = RecordingSink::new();
    let client = ClientContextLayer::builder()
        .sink(sink.clone())
        .build()
        .unwrap();
    assert_eq!(client.handle().id().name(), "context");
    let ctx = RequestContext::starting_now().with_deadline(Instant::now());
    let transport = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(HeaderMap::new()))
    });
    let refused = ctx
        .scope(client.layer(transport).oneshot(Request::new(())))
        .await;
    assert!(refused.is_err());
    assert_eq!(
        sink.events_for("context"),
        vec![Event::Rejected(Reason::DeadlineExceeded)]
    );
}

#[test]
fn configs_load_from_toml_and_refuse_unknown_fields() {
    let server: ServerContextConfig = toml::from_str(
        r#"
        name = "edge"
        trust = { peers = ["10.0.0.0/8"] }
        max_deadline = "10s"
        default_deadline = "2s"
        default_criticality = "SHEDDABLE_PLUS"
        "#,
    )
    .unwrap();
    assert_eq!(server.name.as_deref(), Some("edge"));
    assert_eq!(server.max_deadline, Some(Duration::from_secs(10)));
    assert_eq!(server.id_header, "x-request-id");
    let layer = ServerContextLayer::from_config(&server).unwrap();
    assert_eq!(layer.handle().id().name(), "edge");
    assert!(toml::from_str::<ServerContextConfig>("max_deadlin = \"1s\"").is_err());

    let client: ClientContextConfig =
        toml::from_str("deadline_margin = \"20ms\"\npropagate_fault = false").unwrap();
    assert_eq!(client.deadline_margin, Duration::from_millis(20));
    assert!(!client.propagate_fault);
    assert_eq!(client.name, None);
    assert!(toml::from_str::<ClientContextConfig>("margin = \"1s\"").is_err());
}
