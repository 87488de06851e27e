//! What the stack bench measures: the stacks, the server stack with one
//! layer left out at a time, and single layers, each visited by a
//! [`Visit`] that benches, counts or probes it.

use buttress_core::layer::LayerBuilder;
use std::sync::Arc;
use std::time::Duration;

use buttress::stack::{ClientStack, ServerStack};
use buttress_benches::Bare;
use buttress_context::{ServerContextConfig, ServerContextLayer, TrustConfig};
use buttress_core::TrustPolicy;
use http::{Request, Response};
use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// tower's retry policy as its documentation writes it: deposit on
/// success, withdraw to retry a server error. Requests here have no body,
/// so cloning one is what a replay costs.
#[derive(Clone)]
struct TowerPolicy {
    budget: Arc<TpsBudget>,
}

impl<E> Policy<Request<()>, Response<()>, E> for TowerPolicy {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<()>,
        result: &mut Result<Response<()>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response) if !response.status().is_server_error() => {
                self.budget.deposit();
                None
            }
            _ => self.budget.withdraw().then(|| std::future::ready(())),
        }
    }

    fn clone_request(&mut self, request: &Request<()>) -> Option<Request<()>> {
        let mut copy = Request::new(());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        Some(copy)
    }
}

/// Hands the bench's body-less request on with an empty body: the
/// default client stack replays `http_body::Body`s (`BufferBody`), which
/// `()` is not. Costs one move of the request.
#[derive(Clone)]
pub(crate) struct EmptyBody<S>(pub(crate) S);

impl<S> Service<Request<()>> for EmptyBody<S>
where
    S: Service<Request<http_body_util::Empty<bytes::Bytes>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<()>) -> S::Future {
        self.0.call(request.map(|()| http_body_util::Empty::new()))
    }
}

/// Something done with each variant, the bare service first.
pub(crate) trait Visit {
    fn visit<S>(&mut self, name: &str, svc: S)
    where
        S: Service<Request<()>> + Clone + Send + Sync + 'static,
        S::Future: Send;
}

/// Visits the bare service and every stack, each built once.
pub(crate) fn each_stack(visit: &mut impl Visit) {
    let server = ServerStack::new("bench").build().expect("defaults build");
    let trusting = ServerStack::new("bench_trusting")
        .context(ServerContextConfig {
            trust: TrustConfig::Always,
            ..ServerContextConfig::default()
        })
        .build()
        .expect("stack builds");
    let tower_server = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .load_shed()
        .concurrency_limit(1_000)
        .timeout(Duration::from_secs(10));
    let client = ClientStack::new("bench_dependency")
        .clone_requests()
        .build()
        .expect("defaults build");
    // Every default, the replay included: keeps the request's head and
    // buffers its body (empty here) rather than cloning the request.
    let client_default = ClientStack::new("bench_dependency_default")
        .build()
        .expect("defaults build");
    let tower_client = ServiceBuilder::new()
        .retry(TowerPolicy {
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1)),
        })
        .concurrency_limit(64)
        .timeout(Duration::from_secs(2));

    visit.visit("bare", Bare);
    visit.visit("server", server.layer(Bare));
    visit.visit("server_trusting", trusting.layer(Bare));
    visit.visit("tower_server", tower_server.service(Bare));
    visit.visit("client", client.layer(Bare));
    visit.visit("client_default", EmptyBody(client_default.layer(Bare)));
    visit.visit("tower_client", tower_client.service(Bare));
}

/// Visits the server stack and the default client stack with one layer
/// left out at a time: what each
/// layer costs inside the stack.
pub(crate) fn each_ablation(visit: &mut impl Visit) {
    let variants = [
        (
            "without_context",
            ServerStack::new("ablation").context(buttress::stack::Toggle::Off),
        ),
        (
            "without_metrics",
            ServerStack::new("ablation").metrics(buttress::stack::Toggle::Off),
        ),
        (
            "without_adaptive_limit",
            ServerStack::new("ablation").adaptive_limit(buttress::stack::Toggle::Off),
        ),
        (
            "without_timeout",
            ServerStack::new("ablation").timeout(buttress::stack::Toggle::Off),
        ),
        (
            "edge_only",
            ServerStack::new("ablation")
                .context(buttress::stack::Toggle::Off)
                .metrics(buttress::stack::Toggle::Off)
                .adaptive_limit(buttress::stack::Toggle::Off)
                .timeout(buttress::stack::Toggle::Off),
        ),
    ];
    for (name, stack) in variants {
        visit.visit(name, stack.build().expect("stack builds").layer(Bare));
    }
    // The default client stack, one layer left out at a time.
    use buttress::stack::Toggle::Off;
    let client = || ClientStack::new("ablation");
    let clients = [
        ("client_without_context", client().context(Off)),
        ("client_without_metrics", client().metrics(Off)),
        ("client_without_retry", client().retry(Off)),
        ("client_without_breaker", client().breaker(Off)),
        ("client_without_bulkhead", client().bulkhead(Off)),
        ("client_without_timeout", client().timeout(Off)),
    ];
    for (name, stack) in clients {
        let layer = stack.build().expect("stack builds");
        visit.visit(name, EmptyBody(layer.layer(Bare)));
    }
}

/// Visits single layers over the bare service, as the layer benches
/// configure them, and tower's counterparts: for `scripts/instructions`
/// only (the layer benches time them).
pub(crate) fn each_layer(visit: &mut impl Visit) {
    use buttress_breaker::CircuitBreakerLayer;
    use buttress_core::timeout::TimeoutLayer;
    use buttress_limit::BulkheadLayer;
    use buttress_limit::adaptive::AdaptiveLimitLayer;
    use buttress_limit::shed::LoadShedLayer;
    use buttress_limit::throttle::ThrottleLayer;
    use buttress_metrics::RedLayer;
    use buttress_retry::RetryLayer;

    let breaker = CircuitBreakerLayer::builder()
        .configure(|c| c.window = buttress_breaker::WindowConfig::Count { size: 100 })
        .name("count")
        .build()
        .expect("valid config");
    visit.visit("layer_breaker_count", breaker.layer(Bare));
    let bulkhead = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 1024)
        .build()
        .expect("valid config");
    visit.visit("layer_bulkhead", bulkhead.layer(Bare));
    let adaptive = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 1024;
            c.initial_limit = Some(1024);
            c.max_limit = 1024;
        })
        .build()
        .expect("valid config");
    visit.visit("layer_adaptive", adaptive.layer(Bare));
    let shed = LoadShedLayer::builder()
        .configure(|c| {
            c.signal = buttress_limit::shed::ShedSignalConfig::InFlight {
                high: 1 << 20,
                low: 1 << 19,
            }
        })
        .build()
        .expect("valid config");
    visit.visit("layer_shed_in_flight", shed.layer(Bare));
    let throttle = ThrottleLayer::builder()
        .configure(|c| c.seed = Some(1))
        .build()
        .expect("valid config");
    visit.visit("layer_throttle", throttle.layer(Bare));
    let retry = RetryLayer::builder()
        .clone_requests()
        .build()
        .expect("valid config");
    visit.visit("layer_retry", retry.layer(Bare));
    let timeout = TimeoutLayer::new(Duration::from_secs(1)).expect("a valid timeout");
    visit.visit("layer_timeout", timeout.layer(Bare));
    let context = ServerContextLayer::builder()
        .trust(TrustPolicy::always())
        .build()
        .expect("valid config");
    visit.visit("layer_context_trusting", context.layer(Bare));
    let red = RedLayer::builder()
        .name("layers")
        .build()
        .expect("valid config");
    visit.visit("layer_red", red.layer(Bare));
    visit.visit(
        "tower_concurrency_limit",
        tower::limit::ConcurrencyLimitLayer::new(1024).layer(Bare),
    );
    let tower_retry = ServiceBuilder::new().retry(TowerPolicy {
        budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1)),
    });
    visit.visit("tower_retry_tps_budget", tower_retry.service(Bare));
    visit.visit(
        "tower_load_shed",
        tower::load_shed::LoadShedLayer::new().layer(Bare),
    );
    visit.visit(
        "tower_timeout",
        tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(Bare),
    );
    let request_id = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id());
    visit.visit("tower_http_request_id", request_id.service(Bare));
}
