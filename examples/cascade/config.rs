//! The stacks of A and B, as a user writes them: TOML files beside this
//! one (`a.toml`, `b.toml`), loaded with `buttress::config::ServiceConfig`.
//!
//! The loader needs the `serde` feature, which the crate's default
//! features leave out; built without it (`cargo run --example cascade`),
//! the demo uses the same settings written in code (`in_code.rs`), and
//! `tests/cascade.rs` checks that both give the same stacks.

use std::time::Duration;

use buttress::stack::{ClientStack, ServerStack};

/// A's stacks, as TOML.
pub const A_TOML: &str = include_str!("a.toml");
/// B's stacks, as TOML.
pub const B_TOML: &str = include_str!("b.toml");

/// One service's stacks: its server, and the client for its one
/// dependency.
#[derive(Debug, Clone)]
pub struct Service {
    pub server: ServerStack,
    pub client: ClientStack,
}

/// Where the settings came from, for the demo's first line.
pub const SOURCE: &str = if cfg!(feature = "serde") {
    "examples/cascade/a.toml and b.toml"
} else {
    "the in-code twin of examples/cascade/a.toml and b.toml (build with --features serde to load the TOML)"
};

/// A's server stack and its client for B.
pub fn a() -> Service {
    load(A_TOML, "b")
}

/// B's server stack and its client for C.
pub fn b() -> Service {
    load(B_TOML, "c")
}

impl Service {
    /// How long the breaker for the dependency stays open before probing.
    pub fn breaker_wait(&self) -> Duration {
        let breaker = self.client.config().breaker.settings();
        breaker.map_or(Duration::ZERO, |c| c.wait)
    }
}

#[cfg(feature = "serde")]
fn load(toml: &str, dependency: &str) -> Service {
    from_toml(toml, dependency)
}

/// The service `toml` describes, with its client for `dependency`.
#[cfg(feature = "serde")]
pub fn from_toml(toml: &str, dependency: &str) -> Service {
    use buttress::config::ServiceConfig;
    let config = ServiceConfig::from_toml(toml).unwrap_or_else(|e| panic!("cascade config: {e}"));
    let client = config
        .client_stack(dependency)
        .unwrap_or_else(|e| panic!("cascade config: {e}"));
    Service {
        server: config.server,
        client,
    }
}

#[cfg(not(feature = "serde"))]
fn load(_toml: &str, dependency: &str) -> Service {
    match dependency {
        "b" => super::in_code::a(),
        _ => super::in_code::b(),
    }
}
