//! A fault directive across real hops: A → B → C on 127.0.0.1, each with
//! the server context layer, and hyper clients under the client context
//! layer and a chaos layer per dependency. C calls two dependencies of its
//! own, `recommendations` and `inventory`, through their chaos layers.
//!
//! A trusted caller's `x-buttress-fault: dependency=recommendations;…`
//! crosses A and B untouched (their chaos layers guard other
//! dependencies), reaches C, and fails only C's recommendations call; the
//! same header from an untrusted caller does nothing anywhere.
#![cfg(all(feature = "chaos", feature = "context"))]

use buttress::core::layer::LayerBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::get;
use buttress::chaos::{ChaosHandle, ChaosLayer};
use buttress::context::{ClientContextLayer, ServerContextLayer};
use buttress::core::context::PeerAddr;
use buttress::{BoxError, Reason, Rejected, RequestContext, TrustPolicy};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceBuilder, ServiceExt};

type Downstream =
    BoxCloneSyncService<http::Request<Body>, http::Response<hyper::body::Incoming>, BoxError>;

/// A client for the dependency `name`: context, then chaos, then hyper.
fn client(name: &str) -> (Downstream, ChaosHandle) {
    let transport: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let chaos = ChaosLayer::builder()
        .name(name)
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    let handle = chaos.handle();
    let stack = ServiceBuilder::new()
        .layer(ClientContextLayer::new())
        .layer(chaos)
        .service(transport);
    (BoxCloneSyncService::new(stack), handle)
}

#[derive(Clone)]
struct Next {
    client: Downstream,
    url: String,
}

/// Calls the next hop and answers with its status and body.
async fn forward(State(next): State<Next>) -> (StatusCode, String) {
    let req = http::Request::get(&next.url).body(Body::empty()).unwrap();
    match next.client.oneshot(req).await {
        Ok(res) => {
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

async fn serve(app: Router) -> String {
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
    format!("http://{addr}")
}

/// Copies the socket peer into core's `PeerAddr`, where trust looks.
async fn peer(ConnectInfo(addr): ConnectInfo<SocketAddr>, mut req: Request) -> Request {
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

/// One of C's own dependencies, in process, counting its calls.
fn dependency(
    name: &str,
    hits: Arc<AtomicUsize>,
) -> BoxCloneSyncService<http::Request<()>, http::Response<()>, BoxError> {
    let chaos = ChaosLayer::builder()
        .name(name)
        .configure(|c| c.directives = true)
        .build()
        .unwrap();
    BoxCloneSyncService::new(
        chaos.layer(tower::service_fn(move |_req: http::Request<()>| {
            hits.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::convert::Infallible>(http::Response::new(())) }
        })),
    )
}

fn outcome(result: Result<http::Response<()>, BoxError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => Rejected::find(&*err).map_or("error", |r| r.reason().as_str()),
    }
}

struct Hops {
    a: String,
    recs_hits: Arc<AtomicUsize>,
    inventory_hits: Arc<AtomicUsize>,
    a_to_b: ChaosHandle,
    b_to_c: ChaosHandle,
}

async fn hops() -> Hops {
    let recs_hits = Arc::new(AtomicUsize::new(0));
    let inventory_hits = Arc::new(AtomicUsize::new(0));
    let recs = dependency("recommendations", recs_hits.clone());
    let inventory = dependency("inventory", inventory_hits.clone());
    let internal = || ServerContextLayer::internal(TrustPolicy::peers(["127.0.0.1"]).unwrap());

    let c = Router::new()
        .route(
            "/page",
            get(move || {
                let (recs, inventory) = (recs.clone(), inventory.clone());
                async move {
                    let seen = RequestContext::current()
                        .and_then(|ctx| ctx.raw_fault().cloned())
                        .is_some();
                    let recs = outcome(recs.oneshot(http::Request::new(())).await);
                    let inventory = outcome(inventory.oneshot(http::Request::new(())).await);
                    format!("fault_seen={seen}\nrecommendations={recs}\ninventory={inventory}\n")
                }
            }),
        )
        .layer(internal())
        .layer(axum::middleware::map_request(peer));
    let c = serve(c).await;

    let (b_client, b_to_c) = client("c");
    let b = Router::new()
        .route("/page", get(forward))
        .with_state(Next {
            client: b_client,
            url: format!("{c}/page"),
        })
        .layer(internal())
        .layer(axum::middleware::map_request(peer));
    let b = serve(b).await;

    let (a_client, a_to_b) = client("b");
    let gateway = TrustPolicy::header(
        HeaderName::from_static("x-gateway"),
        HeaderValue::from_static("s3cret"),
    );
    let a = Router::new()
        .route("/page", get(forward))
        .with_state(Next {
            client: a_client,
            url: format!("{b}/page"),
        })
        .layer(
            ServerContextLayer::builder()
                .trust(gateway)
                .build()
                .unwrap(),
        );
    let a = serve(a).await;
    Hops {
        a,
        recs_hits,
        inventory_hits,
        a_to_b,
        b_to_c,
    }
}

async fn get_a(url: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(format!("{url}/page"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = client
        .request(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

const FAULT: (&str, &str) = ("x-buttress-fault", "dependency=recommendations;abort=503");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_directive_reaches_c_and_fails_only_the_named_dependency() {
    let hops = hops().await;
    let (status, body) = get_a(&hops.a, &[("x-gateway", "s3cret"), FAULT]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("fault_seen=true"), "{body}");
    assert!(
        body.contains(&format!(
            "recommendations={}",
            Reason::FaultInjected.as_str()
        )),
        "{body}"
    );
    assert!(body.contains("inventory=ok"), "{body}");
    assert_eq!(
        hops.recs_hits.load(Ordering::SeqCst),
        0,
        "the aborted dependency was not called"
    );
    assert_eq!(hops.inventory_hits.load(Ordering::SeqCst), 1);
    // A's and B's chaos layers saw the call and left it alone.
    for hop in [&hops.a_to_b, &hops.b_to_c] {
        let stats = hop.stats();
        assert_eq!((stats.calls, stats.aborted, stats.delayed), (1, 0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_callers_fault_header_has_no_effect() {
    let hops = hops().await;
    for headers in [&[FAULT][..], &[("x-gateway", "wrong"), FAULT][..]] {
        let (status, body) = get_a(&hops.a, headers).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("fault_seen=false"), "{body}");
        assert!(body.contains("recommendations=ok"), "{body}");
        assert!(body.contains("inventory=ok"), "{body}");
    }
    assert_eq!(hops.recs_hits.load(Ordering::SeqCst), 2);
    assert_eq!(hops.inventory_hits.load(Ordering::SeqCst), 2);
    assert_eq!(hops.a_to_b.stats().aborted + hops.b_to_c.stats().aborted, 0);
}
