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
use std::sync::atomic::{AtomicUsize, Ordering};

use buttress_balance::{
    Balance, BalanceConfig, BalanceLayer, EndpointKey, EndpointLayer, MakeEndpoint, StatusOverload,
};
use buttress_core::BoxError;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};
use buttress_retry::BufferBody;
use tower::discover::Discover;
use tower_layer::{Identity, Layer};

use super::client::{
    Client, ClientLayer, ClientStackConfig, EndpointLayers, EndpointParts, Layers,
};

/// The balancer a balanced client stack holds.
pub(super) type StackBalancer<C> = BalanceLayer<StackEndpoints<C>, C, StatusOverload>;

/// The service [`ClientLayer::balanced`] makes over endpoints of type `T`
/// (what its `make` returns for an address).
pub type Balanced<T, P = BufferBody, C = DefaultClassifier, F = Identity> = Client<
    Balance<SocketAddr, <EndpointLayers<C> as Layer<T>>::Service, C, StatusOverload>,
    P,
    C,
    F,
>;

/// Builds each endpoint's breaker, bulkhead, per-attempt timeout and chaos
/// from the stack's sections, named `<stack>/<endpoint>` for the first
/// `max_endpoint_labels` endpoints and `<stack>/other` after them, so the
/// telemetry's label set stays bounded however many endpoints come and go.
pub struct StackEndpoints<C> {
    recipe: Arc<Recipe<C>>,
}

struct Recipe<C> {
    config: ClientStackConfig,
    env: BuildEnv,
    classifier: C,
    named: AtomicUsize,
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
            .field("named", &self.recipe.named.load(Ordering::Relaxed))
            .finish()
    }
}

impl<K, T, C> EndpointLayer<K, T> for StackEndpoints<C>
where
    K: EndpointKey,
    C: Clone,
    EndpointLayers<C>: Layer<T>,
{
    type Service = <EndpointLayers<C> as Layer<T>>::Service;

    fn layer_for(&self, key: &K, inner: T) -> Self::Service {
        let recipe = &*self.recipe;
        let stack = recipe.env.name().unwrap_or("client");
        let name = if recipe.named.fetch_add(1, Ordering::Relaxed) < recipe.max_named {
            format!("{stack}/{key}")
        } else {
            format!("{stack}/other")
        };
        let env = recipe.env.clone().with_name(name);
        EndpointParts::build(&recipe.config, &env, &recipe.classifier)
            // The same sections built once when the stack was (`build`
            // checks them before it gets here); only the name differs.
            .expect("the endpoint layers built once already")
            .into_layers()
            .layer(inner)
    }
}

/// The balancer of a stack with a `balance` section; its own telemetry
/// is `<stack>/balance` unless the section names it.
pub(super) fn balancer<C: Clone>(
    balance: &BalanceConfig,
    config: &ClientStackConfig,
    env: &BuildEnv,
    classifier: &C,
) -> Result<StackBalancer<C>, ConfigError> {
    let recipe = Recipe {
        config: config.clone(),
        env: env.clone(),
        classifier: classifier.clone(),
        named: AtomicUsize::new(0),
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
        .map_err(|e| e.in_section("balance"))
}

impl<P, C, F> ClientLayer<P, C, F> {
    /// The stack over the replicas in its `balance` section: each
    /// endpoint's connection made by `make` from its address (a
    /// hyper-util client, a reqwest client or a tonic `Channel` bound to
    /// that address — see `buttress::balance` for ready-made makers),
    /// wrapped in a breaker, bulkhead, per-attempt timeout and chaos of
    /// its own, below one balancer. Fails, naming `balance`, if the stack
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
        EndpointLayers<C>: Layer<M::Service>,
        <EndpointLayers<C> as Layer<M::Service>>::Service: Send + Sync + 'static,
        Layers<P, C, F>: Layer<
            Balance<
                SocketAddr,
                <EndpointLayers<C> as Layer<M::Service>>::Service,
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
    /// endpoint arriving gets its own breaker, bulkhead, per-attempt
    /// timeout and chaos; one leaving finishes the calls it has.
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
            Balance<D::Key, <EndpointLayers<C> as Layer<D::Service>>::Service, C, StatusOverload>,
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
        EndpointLayers<C>: Layer<D::Service>,
        <EndpointLayers<C> as Layer<D::Service>>::Service: Send + Sync + 'static,
        Layers<P, C, F>: Layer<
            Balance<D::Key, <EndpointLayers<C> as Layer<D::Service>>::Service, C, StatusOverload>,
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
