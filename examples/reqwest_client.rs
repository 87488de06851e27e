//! reqwest behind a client stack. The stack works over `http` types; a
//! small adapter turns them into reqwest's (`reqwest::Request` from an
//! `http::Request`, `http::Response<reqwest::Body>` from a
//! `reqwest::Response`), so every layer — breaker, bulkhead, per-attempt
//! timeout, retry — applies unchanged.
//!
//! `cargo run --example reqwest_client --all-features`
//!
//! The dependency here is down (nothing listens on its port): the first
//! calls fail as transport errors, then the breaker opens and the calls
//! fail fast, without touching the network.

use std::net::SocketAddr;
use std::time::Duration;

use buttress::breaker::BreakerConfig;
use buttress::stack::ClientStack;
use buttress::{BoxError, Rejected};
use bytes::Bytes;
use tower::{Layer, ServiceExt};

/// The stack over reqwest; a transport that speaks `http` types.
pub(crate) fn client(
    reqwest: reqwest::Client,
) -> impl tower::Service<
    http::Request<Bytes>,
    Response = http::Response<reqwest::Body>,
    Error = BoxError,
    Future: Send,
> + Clone {
    let breaker = BreakerConfig {
        minimum_calls: 4,
        wait: Duration::from_secs(10),
        ..BreakerConfig::default()
    };
    let stack = ClientStack::new("catalog")
        .breaker(breaker)
        .timeout(Duration::from_millis(500))
        .clone_requests()
        .build()
        .expect("a valid client stack");
    let transport = tower::service_fn(move |request: http::Request<Bytes>| {
        let reqwest = reqwest.clone();
        async move {
            let request = reqwest::Request::try_from(request)?;
            let response = reqwest.execute(request).await?;
            Ok::<_, BoxError>(http::Response::<reqwest::Body>::from(response))
        }
    });
    stack.layer(transport)
}

/// Calls a dependency that is down, `calls` times; returns what each call
/// ended with.
pub(crate) async fn demo(down: SocketAddr, calls: usize) -> Vec<String> {
    let client = client(reqwest::Client::new());
    let mut outcomes = Vec::new();
    for _ in 0..calls {
        let request = http::Request::get(format!("http://{down}/products"))
            .body(Bytes::new())
            .expect("a valid request");
        let outcome = match client.clone().oneshot(request).await {
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
