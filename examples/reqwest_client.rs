//! reqwest behind a client stack, with reqwest's own types at both ends:
//! `ClientStack::over_reqwest` takes a `reqwest::Client`, and the client
//! it gives takes a `RequestBuilder` and answers a `reqwest::Response`
//! (`.json()`, `.text()` as usual). Every layer applies — breaker,
//! bulkhead, per-attempt timeout, retry with body replay.
//!
//! `cargo run --example reqwest_client --all-features`
//!
//! The dependency here is down (nothing listens on its port): the first
//! calls fail as transport errors, then the breaker opens and the calls
//! fail fast, without touching the network.

use std::net::SocketAddr;
use std::time::Duration;

use buttress::Rejected;
use buttress::breaker::BreakerConfig;
use buttress::reqwest::ReqwestClient;
use buttress::stack::ClientStack;

/// The stack over reqwest.
pub(crate) fn client(http: reqwest::Client) -> ReqwestClient {
    let breaker = BreakerConfig {
        minimum_calls: 4,
        wait: Duration::from_secs(10),
        ..BreakerConfig::default()
    };
    ClientStack::new("catalog")
        .breaker(breaker)
        .timeout(Duration::from_millis(500))
        .over_reqwest(http)
        .expect("a valid client stack")
}

/// Calls a dependency that is down, `calls` times; returns what each call
/// ended with.
pub(crate) async fn demo(down: SocketAddr, calls: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let catalog = client(http.clone());
    let mut outcomes = Vec::new();
    for _ in 0..calls {
        let request = http.get(format!("http://{down}/products"));
        let outcome = match catalog.send(request).await {
            Ok(response) => format!("status {}", response.status()),
            Err(error) => match Rejected::find(&*error) {
                Some(rejected) => format!("rejected: {}", rejected.reason().as_str()),
                None => "transport error".to_owned(),
            },
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// An address nothing listens on.
pub(crate) fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound")
}

#[allow(dead_code)] // tests/examples_clients.rs includes this file
#[tokio::main]
async fn main() {
    for (i, outcome) in demo(closed_port(), 8).await.into_iter().enumerate() {
        println!("call {}: {outcome}", i + 1);
    }
}
