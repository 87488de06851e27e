//! A client stack over a dependency's replicas: `[clients.<name>.balance]`.
//!
//! Balanced, the stack splits at the balancer: context → metrics →
//! fallback → retry or hedge → throttle → **balancer** → per endpoint:
//! breaker → bulkhead → per-attempt timeout → chaos → the endpoint's
//! connection. The layers above are the stack's own, one set for the
//! dependency; the layers below are built again for every endpoint the
//! balancer admits, from the same sections, so each replica has its own
//! breaker and bulkhead, and a hung replica's attempts time out below its
//! breaker and count as its failures. Retries and hedges go back through
//! the balancer and may land on another replica.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::task::{Context, Poll};

use buttress_balance::{
    Balance, BalanceConfig, BalanceLayer, EndpointKey, EndpointLayer, MakeEndpoint, StatusOverload,
};
use buttress_core::BoxError;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};
use buttress_core::telemetry::QuietSink;
use buttress_retry::BufferBody;
use tower::discover::Discover;
use tower_layer::{Identity, Layer};
use tower_service::Service;

use super::client::{
    ChaosSlot, Client, ClientLayer, ClientStackConfig, EndpointLayers, EndpointParts, Layers,
};
use super::endpoint_guards::EndpointGuards;

/// The balancer a balanced client stack holds.
pub(super) type StackBalancer<C> = BalanceLayer<StackEndpoints<C>, C, StatusOverload>;

/// The service [`ClientLayer::balanced`] makes over endpoints of type `T`
/// (what its `make` returns for an address).
pub type Balanced<T, P = BufferBody, C = DefaultClassifier, F = Identity> = Client<
    Balance<SocketAddr, <EndpointLayers<C> as Layer<Labelled<T>>>::Service, C, StatusOverload>,
    P,
    C,
    F,
>;

/// Builds each endpoint's breaker, bulkhead and per-attempt timeout from
/// the stack's sections, above the stack's one fault-injection layer
/// (shared by every endpoint, under the dependency's name, which
/// directives spell), reporting as `<stack>/<endpoint>` while
/// fewer than `max_endpoint_labels` endpoints hold a name, and not at all
/// beyond (their calls still count in the balancer's and the stack's own
/// telemetry), so the telemetry's label set stays bounded however many
/// endpoints are in the table; a name's slot comes back when its
/// endpoint is gone.
pub struct StackEndpoints<C> {
    recipe: Arc<Recipe<C>>,
}

struct Recipe<C> {
    /// The sections endpoints are built from, and the live endpoints'
    /// guards, for reloads.
    guards: Arc<EndpointGuards>,
    /// The stack's fault injection: one layer for every endpoint.
    chaos: ChaosSlot,
    env: BuildEnv,
    classifier: C,
    named: Arc<AtomicUsize>,
    max_named: usize,
}

impl<C> Clone for StackEndpoints<C> {
    fn clone(&self) -> Self {
        StackEndpoints {
            recipe: self.recipe.clone(),
        }
    }
}

impl<C> std::fmt::Debug for StackEndpoints<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackEndpoints")
            .field("named", &self.recipe.named.load(Relaxed))
            .finish()
    }
}

impl<K, T, C> EndpointLayer<K, T> for StackEndpoints<C>
where
    K: EndpointKey,
    C: Clone,
    EndpointLayers<C>: Layer<Labelled<T>>,
{
    type Service = <EndpointLayers<C> as Layer<Labelled<T>>>::Service;

    fn layer_for(&self, key: &K, inner: T) -> Self::Service {
        let recipe = &*self.recipe;
        let stack = recipe.env.name().unwrap_or("client");
        // A name of its own while fewer than `max_named` endpoints hold
        // one; the slot comes back when the endpoint's service is gone.
        let slot = recipe
            .named
            .fetch_update(AcqRel, Relaxed, |n| (n < recipe.max_named).then_some(n + 1))
            .ok()
            .map(|_| {
                Arc::new(Slot {
                    named: recipe.named.clone(),
                })
            });
        // Past the cap the endpoint's layers report nothing of their own
        // (the balancer's and the stack's telemetry still count its
        // calls): no name, no series, however many endpoints.
        let quiet = || BuildEnv::named(format!("{stack}/unlabelled")).with_sink(QuietSink);
        let env = match slot {
            Some(_) => recipe.env.clone().with_name(format!("{stack}/{key}")),
            None => quiet(),
        };
        let alive = Arc::new(());
        let guards = recipe.guards.building(|config| {
            let guards = EndpointParts::guards(config, &env, &recipe.classifier)
                .or_else(|err| {
                    // Only the name differs from the sections `build` (or
                    // a reload) checked; should a key make a name a layer
                    // refuses, the endpoint still gets its layers,
                    // unlabelled.
                    tracing::warn!(endpoint = %key, error = %err, "endpoint layers built unlabelled");
                    EndpointParts::guards(config, &quiet(), &recipe.classifier)
                })
                .expect("the stack's sections, checked when built or reloaded");
            recipe.guards.register(
                &alive,
                guards.breaker.as_ref().map(|layer| layer.handle()),
                guards.bulkhead.as_ref().map(|layer| layer.handle()),
                guards.timeout.as_ref().map(|layer| layer.handle()),
            );
            guards
        });
        EndpointParts {
            chaos: recipe.chaos.clone(),
            ..guards
        }
        .into_layers()
        .layer(Labelled {
            inner,
            _slot: slot,
            _alive: alive,
        })
    }
}

/// An endpoint's connection, holding its telemetry name's slot until the
/// endpoint's last clone is gone (it left the table and its calls ended).
#[derive(Clone, Debug)]
pub struct Labelled<T> {
    inner: T,
    /// Held, never read: dropping the last clone gives the slot back.
    _slot: Option<Arc<Slot>>,
    /// Held, never read: while it lives, a reload reaches the endpoint's
    /// guards.
    _alive: Arc<()>,
}

#[derive(Debug)]
struct Slot {
    named: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.named.fetch_sub(1, AcqRel);
    }
}

impl<T: Service<R>, R> Service<R> for Labelled<T> {
    type Response = T::Response;
    type Error = T::Error;
    type Future = T::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), T::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: R) -> T::Future {
        self.inner.call(request)
    }
}

/// The balancer of a stack with a `balance` section; its own telemetry
/// is `<stack>/balance` unless the section names it.
pub(super) fn balancer<C: Clone>(
    balance: &BalanceConfig,
    config: &ClientStackConfig,
    env: &BuildEnv,
    classifier: &C,
    chaos: ChaosSlot,
) -> Result<(StackBalancer<C>, Arc<EndpointGuards>), ConfigError> {
    let guards = EndpointGuards::new(config.clone());
    let recipe = Recipe {
        guards: guards.clone(),
        chaos,
        env: env.clone(),
        classifier: classifier.clone(),
        named: Arc::new(AtomicUsize::new(0)),
        max_named: balance.max_endpoint_labels,
    };
    let mut balance = balance.clone();
    if balance.name.is_none() {
        balance.name = Some(format!("{}/balance", env.name().unwrap_or("client")));
    }
    BalanceLayer::builder()
        .with_config(balance)
        .env(env.clone())
        .with_endpoint_layer(StackEndpoints {
            recipe: Arc::new(recipe),
        })
        .classifier(classifier.clone())
        .build()
        .map(|balancer| (balancer, guards))
        .map_err(|e| e.in_section("balance"))
}

impl<P, C, F> ClientLayer<P, C, F> {
    /// The stack over the replicas in its `balance` section: each
    /// endpoint's connection made by `make` from its address (a
    /// hyper-util client, a reqwest client or a tonic `Channel` bound to
    /// that address — see `buttress::balance` for ready-made makers),
    /// wrapped in a breaker, bulkhead and per-attempt timeout of its own
    /// (and the stack's one fault-injection layer), below one balancer. Fails, naming `balance`, if the stack
    /// has no such section.
    ///
    /// ```
    /// use buttress::balance::BalanceConfig;
    /// use buttress::stack::ClientStack;
    /// use std::net::SocketAddr;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let stack = ClientStack::new("search")
    ///     .clone_requests()
    ///     .configure(|c| {
    ///         c.balance = Some(BalanceConfig {
    ///             endpoints: vec!["127.0.0.1:8081".into(), "127.0.0.1:8082".into()],
    ///             ..BalanceConfig::default()
    ///         })
    ///     });
    /// let layer = stack.build().unwrap();
    /// // A stand-in for a connection per replica: answers with its port.
    /// let client = layer
    ///     .balanced(|addr: &SocketAddr| {
    ///         let port = addr.port();
    ///         tower::service_fn(move |_req: http::Request<()>| async move {
    ///             Ok::<_, std::io::Error>(http::Response::new(port))
    ///         })
    ///     })
    ///     .unwrap();
    /// let answer = client.oneshot(http::Request::new(())).await.unwrap();
    /// assert!([8081, 8082].contains(answer.body()));
    /// assert_eq!(layer.balance().unwrap().endpoints().len(), 2);
    /// # }
    /// ```
    pub fn balanced<M>(&self, make: M) -> Result<Balanced<M::Service, P, C, F>, ConfigError>
    where
        M: MakeEndpoint<SocketAddr> + Send + 'static,
        C: Clone + Send + Sync + 'static,
        EndpointLayers<C>: Layer<Labelled<M::Service>>,
        <EndpointLayers<C> as Layer<Labelled<M::Service>>>::Service: Send + Sync + 'static,
        Layers<P, C, F>: Layer<
            Balance<
                SocketAddr,
                <EndpointLayers<C> as Layer<Labelled<M::Service>>>::Service,
                C,
                StatusOverload,
            >,
        >,
    {
        let (above, balancer) = self.balancer.as_ref().ok_or_else(|| {
            ConfigError::new(
                "balance",
                "the stack has no balance section: give it the endpoints to balance over",
            )
        })?;
        Ok(above.layer(balancer.layer(make)))
    }

    /// The stack over the endpoints a tower [`Discover`] stream yields —
    /// a channel the application feeds (`buttress::balance::discover::channel`),
    /// a static list, or a discovery client of its own — instead of the
    /// `balance` section's `endpoints` (its other settings apply). Each
    /// endpoint arriving gets its own breaker, bulkhead and per-attempt
    /// timeout; one leaving finishes the calls it has.
    ///
    /// ```
    /// use buttress::balance::{BalanceConfig, discover};
    /// use buttress::stack::ClientStack;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ClientStack::new("search")
    ///     .clone_requests()
    ///     .configure(|c| c.balance = Some(BalanceConfig::default()))
    ///     .build()
    ///     .unwrap();
    /// let (endpoints, changes) = discover::channel(16);
    /// let client = layer.balanced_discover(changes).unwrap();
    /// let replica = |n: u16| {
    ///     tower::service_fn(move |_req: http::Request<()>| async move {
    ///         Ok::<_, std::io::Error>(http::Response::new(n))
    ///     })
    /// };
    /// endpoints.insert("replica-1".to_owned(), replica(1)).await.unwrap();
    /// let answer = client.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(*answer.body(), 1);
    /// # }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn balanced_discover<D>(
        &self,
        discover: D,
    ) -> Result<
        Client<
            Balance<
                D::Key,
                <EndpointLayers<C> as Layer<Labelled<D::Service>>>::Service,
                C,
                StatusOverload,
            >,
            P,
            C,
            F,
        >,
        ConfigError,
    >
    where
        D: Discover + Send + 'static,
        D::Key: EndpointKey,
        D::Error: Into<BoxError>,
        C: Clone + Send + Sync + 'static,
        EndpointLayers<C>: Layer<Labelled<D::Service>>,
        <EndpointLayers<C> as Layer<Labelled<D::Service>>>::Service: Send + Sync + 'static,
        Layers<P, C, F>: Layer<
            Balance<
                D::Key,
                <EndpointLayers<C> as Layer<Labelled<D::Service>>>::Service,
                C,
                StatusOverload,
            >,
        >,
    {
        let (above, balancer) = self.balancer.as_ref().ok_or_else(|| {
            ConfigError::new(
                "balance",
                "the stack has no balance section: give it one (its endpoints may be empty)",
            )
        })?;
        Ok(above.layer(balancer.discover(discover)))
    }
}
