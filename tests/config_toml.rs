//! Loading a whole service from TOML: the example file loads, and every
//! mistake is reported with the full path of the field at fault.

#![cfg(all(
    feature = "serde",
    feature = "stack",
    feature = "fallback",
    feature = "chaos"
))]

use std::time::Duration;

use buttress::config::ServiceConfig;
use buttress::stack::Toggle;

fn error(source: &str) -> buttress::core::config::ConfigError {
    ServiceConfig::from_toml(source).expect_err("the config is invalid")
}

#[test]
fn the_example_file_loads_and_builds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/service.toml");
    let config = ServiceConfig::from_path(path).expect("examples/service.toml is valid");
    assert_eq!(config.server.name, "shop");
    let server = config.build_server().unwrap();
    assert_eq!(server.adaptive_limit().unwrap().limit(), 32);
    assert!(server.rate_limit().is_some() && server.shed().is_some());
    let inventory = config.build_client("inventory").unwrap();
    assert!(inventory.throttle().is_some() && inventory.breaker().is_some());
    let recommendations = config
        .build_client_with_fallback("recommendations")
        .unwrap();
    assert!(recommendations.fallback().is_some() && recommendations.chaos().is_some());
    // A fallback section needs a stack whose type has a fallback.
    let err = config.build_client("recommendations").unwrap_err();
    assert_eq!(err.field(), "clients.recommendations.fallback");
    assert_eq!(server.bulkhead().unwrap().config().max_concurrent, 256);

    let inventory = config.build_client("inventory").unwrap();
    assert!(inventory.breaker().is_some());
    assert_eq!(inventory.bulkhead().unwrap().config().max_concurrent, 32);
    assert!(inventory.retry_budget().is_some());
    assert_eq!(
        config.client_uri("inventory").unwrap().unwrap().port_u16(),
        Some(8081)
    );

    let recommendations = config
        .build_client_with_fallback("recommendations")
        .unwrap();
    assert!(
        recommendations.retry_budget().is_none(),
        "retry = false sends once"
    );
    assert!(matches!(
        config.clients["recommendations"].retry,
        Toggle::Off
    ));
}

#[test]
fn an_unknown_field_is_named_with_its_path() {
    let err = error("[clients.inventory.breaker]\nwiat = \"5s\"\n");
    assert_eq!(err.field(), "clients.inventory.breaker.wiat");
    assert!(err.problem().contains("unknown field"), "{err}");
    assert!(err.problem().contains("line 2"), "{err}");

    let err = error("[server]\nname = \"shop\"\ntimeuot = \"1s\"\n");
    assert_eq!(err.field(), "server.timeuot");

    let err = error("[servers]\nname = \"shop\"\n");
    assert_eq!(err.field(), "servers");
}

#[test]
fn an_invalid_duration_is_named_with_its_path() {
    let err = error("[clients.inventory]\ntimeout = \"soon\"\n");
    assert_eq!(err.field(), "clients.inventory.timeout");
    assert!(err.problem().contains("duration"), "{err}");

    let err = error("[server.adaptive_limit]\nmax_wait = \"5 parsecs\"\n");
    assert_eq!(err.field(), "server.adaptive_limit.max_wait");

    let err = error("[clients.a.retry]\nbackoff = { base = \"fast\" }\n");
    assert_eq!(err.field(), "clients.a.retry.backoff.base");
}

#[test]
fn an_invalid_value_is_named_after_parsing() {
    let err = error("[clients.inventory.breaker]\nfailure_rate = 0.0\n");
    assert_eq!(err.field(), "clients.inventory.breaker.failure_rate");

    let err = error("[server.bulkhead]\nmax_concurrent = 0\n");
    assert_eq!(err.field(), "server.bulkhead.max_concurrent");

    let err = error("[clients.inventory]\ntimeout = \"0s\"\n");
    assert_eq!(err.field(), "clients.inventory.timeout");

    let err = error("[clients.inventory]\nuri = \"/relative\"\n");
    assert_eq!(err.field(), "clients.inventory.uri");

    let err = error("[server.adaptive_limit]\nmin_limit = 10\nmax_limit = 5\n");
    assert_eq!(err.field(), "server.adaptive_limit.max_limit");
}

#[test]
fn a_wrong_type_is_named() {
    let err = error("[server]\nname = 7\n");
    assert_eq!(err.field(), "server.name");
    let err = error("[clients.inventory]\nbreaker = 3\n");
    assert_eq!(err.field(), "clients.inventory.breaker");
}

#[test]
fn toggles_read_as_documented() {
    let config = ServiceConfig::from_toml(
        "[server]\nadaptive_limit = false\nbulkhead = true\ntimeout = false\n\
         [clients.x]\nbreaker = { wait = \"1s\" }\n",
    )
    .unwrap();
    assert!(matches!(config.server.adaptive_limit, Toggle::Off));
    let server = config.build_server().unwrap();
    assert!(server.adaptive_limit().is_none());
    assert_eq!(server.bulkhead().unwrap().config().max_concurrent, 64);
    let breaker = config.clients["x"].breaker.settings().unwrap();
    assert_eq!(breaker.wait, Duration::from_secs(1));
    assert!(config.build_client("x").unwrap().breaker().is_some());
    assert_eq!(
        config.build_client("missing").unwrap_err().field(),
        "clients.missing"
    );
}

#[test]
fn an_empty_document_is_all_defaults() {
    let config = ServiceConfig::from_toml("").unwrap();
    let server = config.build_server().unwrap();
    assert!(server.adaptive_limit().is_some());
    assert!(server.bulkhead().is_none());
}
