//! What the end-to-end and overload benches share: a hyper 1 HTTP/1 server
//! on an OS thread of its own, the answers the servers give, latency
//! percentiles, the machine's load and settings read from the environment.
//!
//! Included by each bench binary with `#[path = "load/mod.rs"] mod load;`.

pub(crate) mod answer;
pub(crate) mod latency;
pub(crate) mod machine;
pub(crate) mod server;
pub(crate) mod settings;
