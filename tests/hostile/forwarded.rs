//! (5) Forwarded chains. Behind a trusted proxy, a client padding its
//! `X-Forwarded-For` to about 4 KiB made the walk give up and key the
//! request by the proxy's own address: five more admissions on the
//! proxy's key, and then the proxy's own requests got 429. And
//! `key_forwarded(TrustPolicy::always())` let any caller choose its own
//! key. Now the chain is read from the right, only as far as the client,
//! so padding is never looked at; a chain a trusted hop reports that
//! cannot be read is keyed to one `unattributable` key, never the proxy's;
//! and a trust policy that trusts every peer is refused at build.
//!
//! A real axum server on 127.0.0.1, the server stack built from a service
//! file; the test client connects from 127.0.0.1 and plays the proxy.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use buttress::TrustPolicy;
use buttress::config::ServiceConfig;
use buttress::core::context::PeerAddr;
use buttress::limit::rate::RateLimitLayer;
use buttress::stack::ServerLayer;

/// The proxy's quota, and every client's: five a minute.
const QUOTA: u32 = 5;

/// The bytes of a forwarded header the walk reads, from the right.
const MAX_BYTES: usize = 4_096;

/// The server stack, rate limited by the client address our proxy at
/// 127.0.0.1 forwards.
const BEHIND_A_PROXY: &str = r#"
[server]
name = "behind-proxy"

[server.rate_limit]
key = "forwarded"
trusted_proxies = ["127.0.0.1"]
quota = { limit = 5, period = "1m", burst = 5 }
"#;

/// Copies axum's `ConnectInfo` into core's `PeerAddr`, where the rate
/// limit and trust look.
fn peer_from_connect_info<B>(mut req: http::Request<B>) -> http::Request<B> {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(PeerAddr(addr));
    }
    req
}

async fn serve(stack: ServerLayer) -> SocketAddr {
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        tower::ServiceBuilder::new()
            .map_request(peer_from_connect_info)
            .layer(stack),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// The proxy: one client, every request from 127.0.0.1.
struct Proxy {
    client: reqwest::Client,
    url: String,
}

impl Proxy {
    fn to(addr: SocketAddr) -> Self {
        Proxy {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: format!("http://{addr}/"),
        }
    }

    /// Sends `n` requests with this `X-Forwarded-For` (none: the proxy's
    /// own request); how many were admitted, and the other statuses.
    async fn send(&self, n: u32, chain: Option<&str>) -> (u32, Vec<u16>) {
        let mut admitted = 0;
        let mut refused = Vec::new();
        for _ in 0..n {
            let mut request = self.client.get(&self.url);
            if let Some(chain) = chain {
                request = request.header("x-forwarded-for", chain);
            }
            let status = request.send().await.unwrap().status().as_u16();
            if status == 200 {
                admitted += 1;
            } else {
                refused.push(status);
            }
        }
        (admitted, refused)
    }
}

/// Forged hops, as a client pads them, to about `bytes` bytes.
fn padding(bytes: usize) -> String {
    let mut chain = String::new();
    let mut i = 0u32;
    while chain.len() < bytes {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&format!("198.51.{}.{}", i / 250 % 250, i % 250));
        i += 1;
    }
    chain
}

#[tokio::test]
async fn a_padded_forwarded_chain_never_lands_on_the_proxys_key() {
    let config = ServiceConfig::from_toml(BEHIND_A_PROXY).unwrap();
    let stack = config.build_server().unwrap();
    let rate = stack.rate_limit().unwrap().clone();
    let proxy = Proxy::to(serve(stack).await);

    // The attacker pads its header to ~4,090 bytes; our proxy appends the
    // address it saw, 203.0.113.66, as proxies do.
    let padded = padding(4_090);
    assert!((4_090..4_110).contains(&padded.len()));
    let attack = format!("{padded}, 203.0.113.66");
    let (admitted, refused) = proxy.send(20, Some(&attack)).await;
    assert_eq!(admitted, QUOTA, "the attacker's own quota, no more");
    assert!(refused.iter().all(|status| *status == 429), "{refused:?}");
    // The same padding on a line of its own, the address on the next.
    let attacker = proxy
        .client
        .get(&proxy.url)
        .header("x-forwarded-for", &padded)
        .header("x-forwarded-for", "203.0.113.66")
        .send()
        .await
        .unwrap();
    assert_eq!(attacker.status(), 429, "still the attacker's key");

    // The proxy's own requests keep their whole quota, and so does
    // another client behind it.
    assert_eq!(proxy.send(QUOTA, None).await, (QUOTA, vec![]));
    let neighbour = proxy.send(QUOTA, Some("203.0.113.7")).await;
    assert_eq!(neighbour, (QUOTA, vec![]));
    // Three keys: the attacker, the proxy, the neighbour.
    assert_eq!(rate.tracked_keys(), 3);
}

#[tokio::test]
async fn an_unreadable_chain_is_keyed_apart_from_the_proxy() {
    let config = ServiceConfig::from_toml(BEHIND_A_PROXY).unwrap();
    let stack = config.build_server().unwrap();
    let rate = stack.rate_limit().unwrap().clone();
    let proxy = Proxy::to(serve(stack).await);

    // What a trusted hop reports that names no client: garbage, RFC
    // 7239's `unknown`, more trusted hops than the walk follows, a client
    // beyond the byte bound.
    let beyond = format!("203.0.113.9, {}127.0.0.1", " ".repeat(MAX_BYTES + 1));
    let many_hops = vec!["127.0.0.1"; 40].join(", ");
    let chains = [
        format!("{}, bogus", padding(4_090)),
        "unknown".to_owned(),
        format!("203.0.113.9, {many_hops}"),
        beyond,
    ];
    let mut admitted = 0;
    let mut refused = Vec::new();
    for chain in &chains {
        let (ok, no) = proxy.send(5, Some(chain)).await;
        admitted += ok;
        refused.extend(no);
    }
    // One shared `unattributable` quota across all four shapes.
    assert_eq!(admitted, QUOTA);
    assert!(refused.iter().all(|status| *status == 429), "{refused:?}");
    // The proxy itself is untouched.
    assert_eq!(proxy.send(QUOTA, None).await, (QUOTA, vec![]));
    assert_eq!(rate.tracked_keys(), 2, "unattributable and the proxy");
}

#[test]
fn a_forwarded_key_trusting_every_peer_is_refused() {
    let err = RateLimitLayer::builder()
        .key_forwarded(TrustPolicy::always())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "key");
    assert!(
        err.problem()
            .starts_with("a forwarded key must not trust every peer"),
        "{err}"
    );
    for everyone in ["0.0.0.0/0", "::/0"] {
        let source = BEHIND_A_PROXY.replace("\"127.0.0.1\"", &format!("\"{everyone}\""));
        let err = ServiceConfig::from_toml(&source).unwrap_err();
        assert_eq!(err.field(), "server.rate_limit.trusted_proxies", "{err}");
    }
    // Trusting named proxies builds.
    RateLimitLayer::builder()
        .key_forwarded(TrustPolicy::peers(["127.0.0.1", "10.0.0.0/8"]).unwrap())
        .build()
        .unwrap();
}
