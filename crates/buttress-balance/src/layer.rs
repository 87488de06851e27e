//! The balancer's layer and builder.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use buttress_core::BoxError;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::rng::SharedRng;
use buttress_core::telemetry::Telemetry;
use tower::discover::{Change, Discover};
use tower_layer::{Identity, Layer};

use crate::config::BalanceConfig;
use crate::discover::ConfigEndpoints;
use crate::endpoint::Common;
use crate::handle::{BalanceHandle, View};
use crate::judge::{Judge, StatusOverload};
use crate::key::{EachEndpoint, EndpointKey, EndpointLayer, EveryEndpoint, MakeEndpoint};
use crate::policy::{Fleet, Policy};
use crate::service::Balance;
use crate::shared::{Driver, Shared};
use crate::telemetry::{KIND, Labels};

/// Makes [`Balance`] clients: from the config's `endpoints`
/// (`tower::Layer` over an endpoint maker, [`MakeEndpoint`]) or from any
/// tower [`Discover`] stream ([`discover`](Self::discover)).
///
/// The balancer's state — the table, every endpoint's load, ejection
/// and health — is made by the first of those calls and shared by every
/// later one and every clone (a later call's maker or stream is not
/// used), so a layer applied twice is still one balancer.
///
/// ```
/// use buttress_balance::BalanceLayer;
/// use buttress_core::layer::LayerBuilder;
/// use std::net::SocketAddr;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = BalanceLayer::builder()
///     .configure(|c| c.endpoints = vec!["127.0.0.1:8081".into(), "127.0.0.1:8082".into()])
///     .name("inventory")
///     .build()
///     .unwrap();
/// // Each endpoint's service, made from its address (here a stand-in;
/// // a tonic `Channel`, a hyper-util or reqwest client in real use).
/// let client = layer.layer(|addr: &SocketAddr| {
///     let addr = *addr;
///     tower::service_fn(move |_req: http::Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(http::Response::new(addr.port()))
///     })
/// });
/// let res = client.clone().oneshot(http::Request::new(())).await.unwrap();
/// assert!([8081, 8082].contains(res.body()));
/// assert_eq!(layer.handle().endpoints().len(), 2);
/// # }
/// ```
pub struct BalanceLayer<W = Identity, C = DefaultClassifier, O = StatusOverload> {
    config: Arc<BalanceConfig>,
    env: BuildEnv,
    telemetry: Telemetry,
    endpoint_layer: W,
    judge: Judge<C, O>,
    made: Arc<Mutex<Option<Arc<dyn Any + Send + Sync>>>>,
    view: Arc<OnceLock<Arc<dyn View>>>,
}

impl BalanceLayer {
    /// A builder with the default config.
    pub fn builder() -> BalanceLayerBuilder {
        Self::builder_in(BalanceConfig::default(), BuildEnv::default())
    }

    pub(crate) fn builder_in(config: BalanceConfig, env: BuildEnv) -> BalanceLayerBuilder {
        BalanceLayerBuilder {
            config,
            env,
            endpoint_layer: Identity::new(),
            classifier: DefaultClassifier::default(),
            overload: StatusOverload,
        }
    }

    /// Builds from data alone.
    pub fn from_config(config: &BalanceConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<W, C, O> BalanceLayer<W, C, O> {
    /// A handle on the balancer's endpoints (empty until it is made).
    pub fn handle(&self) -> BalanceHandle {
        BalanceHandle::new(self.telemetry.layer().clone(), self.view.clone())
    }

    /// The config it was built from.
    pub fn config(&self) -> &BalanceConfig {
        &self.config
    }
}

impl<W, C, O> BalanceLayer<W, C, O>
where
    C: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    /// A balancer over the endpoints `discover` yields, each wrapped in
    /// the per-endpoint layer.
    ///
    /// ```
    /// use buttress_balance::{BalanceLayer, NoOverload, discover};
    /// use buttress_core::classify::AnyErrorFails;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = discover::channel(16);
    /// let layer = BalanceLayer::builder()
    ///     .classifier(AnyErrorFails)
    ///     .overload(NoOverload)
    ///     .build()
    ///     .unwrap();
    /// let client = layer.discover(rx);
    /// let backend = |n: u32| tower::service_fn(move |_: ()| async move { Ok::<_, std::convert::Infallible>(n) });
    /// tx.insert(1u32, backend(1)).await.unwrap();
    /// assert_eq!(client.clone().oneshot(()).await.unwrap(), 1);
    /// # }
    /// ```
    pub fn discover<D>(&self, discover: D) -> Balance<D::Key, W::Service, C, O>
    where
        D: Discover + Send + 'static,
        D::Key: EndpointKey,
        D::Error: Into<BoxError>,
        W: EndpointLayer<D::Key, D::Service> + Clone + Send + 'static,
        W::Service: Send + Sync + 'static,
    {
        let mut discover = Box::pin(discover);
        let wrap = self.endpoint_layer.clone();
        let driver: Driver<D::Key, W::Service> = Box::new(move |cx| {
            discover.as_mut().poll_discover(cx).map(|next| {
                next.map(|change| match change.map_err(Into::into)? {
                    Change::Insert(key, service) => {
                        let service = wrap.layer_for(&key, service);
                        Ok(Change::Insert(key, service))
                    }
                    Change::Remove(key) => Ok(Change::Remove(key)),
                })
            })
        });
        Balance::new(self.shared(driver))
    }

    /// The shared state: made once, on the first call.
    fn shared<K, S>(&self, driver: Driver<K, S>) -> Arc<Shared<K, S, Judge<C, O>>>
    where
        K: EndpointKey,
        S: Send + Sync + 'static,
    {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = made
            .as_ref()
            .and_then(|any| any.clone().downcast::<Shared<K, S, Judge<C, O>>>().ok())
        {
            return shared;
        }
        let config = &*self.config;
        let common = Arc::new(Common {
            policy: Policy::new(config),
            fleet: Fleet::default(),
        });
        let name: Arc<str> = Arc::from(self.telemetry.layer().name());
        let labels = Labels::new(self.env.clone(), name, config.max_endpoint_labels);
        let shared = Arc::new(Shared::new(
            self.judge.clone(),
            common,
            SharedRng::seeded_or_random(config.seed),
            self.telemetry.clone(),
            labels,
            driver,
        ));
        if made.is_none() {
            *made = Some(shared.clone());
            let _ = self.view.set(shared.clone());
        }
        shared
    }
}

impl<M, W, C, O> Layer<M> for BalanceLayer<W, C, O>
where
    M: MakeEndpoint<SocketAddr> + Send + 'static,
    W: EndpointLayer<SocketAddr, M::Service> + Clone + Send + 'static,
    W::Service: Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    type Service = Balance<SocketAddr, W::Service, C, O>;

    /// A balancer over the config's `endpoints`, each made by `make` and
    /// wrapped in the per-endpoint layer.
    fn layer(&self, make: M) -> Self::Service {
        self.discover(ConfigEndpoints::new(&self.config, make))
    }
}

impl<W: Clone, C: Clone, O: Clone> Clone for BalanceLayer<W, C, O> {
    fn clone(&self) -> Self {
        BalanceLayer {
            config: self.config.clone(),
            env: self.env.clone(),
            telemetry: self.telemetry.clone(),
            endpoint_layer: self.endpoint_layer.clone(),
            judge: self.judge.clone(),
            made: self.made.clone(),
            view: self.view.clone(),
        }
    }
}

impl<W, C, O> fmt::Debug for BalanceLayer<W, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceLayer")
            .field("balancer", self.handle().id())
            .field("config", &self.config)
            .finish()
    }
}

/// Builds a [`BalanceLayer`].
///
/// Its settings are a [`BalanceConfig`], set through [`LayerBuilder`]
/// (`.configure`, `.with_config`, `.name`, `.sink`, `.env`). Of its own
/// it adds only what is not data: the per-endpoint layer
/// ([`endpoint_layer`](Self::endpoint_layer),
/// [`endpoint_layer_fn`](Self::endpoint_layer_fn)), the classifier that
/// judges answers for ejection ([`classifier`](Self::classifier)) and the
/// overload test ([`overload`](Self::overload)).
///
/// ```
/// use buttress_balance::BalanceLayer;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::timeout::TimeoutLayer;
/// use std::time::Duration;
///
/// let per_attempt = TimeoutLayer::builder()
///     .configure(|c| c.limit = Some(Duration::from_millis(500)))
///     .build()
///     .unwrap();
/// let layer = BalanceLayer::builder()
///     .configure(|c| {
///         c.endpoints = vec!["10.0.0.1:80".into(), "10.0.0.2:80".into(), "10.0.0.3:80".into()];
///         c.ejection.consecutive_failures = Some(3);
///         c.ejection.max_ejection_percent = 34.0;
///         c.slow_start = Some(Duration::from_secs(30));
///     })
///     .endpoint_layer(per_attempt)
///     .name("payments")
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "payments");
/// ```
#[derive(Clone)]
pub struct BalanceLayerBuilder<W = Identity, C = DefaultClassifier, O = StatusOverload> {
    config: BalanceConfig,
    env: BuildEnv,
    endpoint_layer: W,
    classifier: C,
    overload: O,
}

impl<W, C, O> LayerBuilder for BalanceLayerBuilder<W, C, O> {
    type Config = BalanceConfig;

    fn config(&self) -> &BalanceConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut BalanceConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<W, C, O> BalanceLayerBuilder<W, C, O> {
    /// Wraps every endpoint's service in `layer` — one layer shared by all
    /// endpoints, for stateless layers such as a per-attempt timeout (see
    /// [`EndpointLayer`]).
    pub fn endpoint_layer<L>(self, layer: L) -> BalanceLayerBuilder<EveryEndpoint<L>, C, O> {
        self.with_endpoint_layer(EveryEndpoint(layer))
    }

    /// Wraps each endpoint's service in a layer `make` builds for it: a
    /// breaker and bulkhead of the endpoint's own, above a per-attempt
    /// timeout (see [`EndpointLayer`]).
    ///
    /// ```
    /// use buttress_balance::BalanceLayer;
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_core::timeout::TimeoutLayer;
    /// use std::net::SocketAddr;
    /// use std::time::Duration;
    ///
    /// let layer = BalanceLayer::builder()
    ///     .endpoint_layer_fn(|addr: &SocketAddr| {
    ///         TimeoutLayer::builder()
    ///             .configure(|c| c.limit = Some(Duration::from_secs(1)))
    ///             .name(format!("payments/{addr}"))
    ///             .build()
    ///             .expect("a valid timeout")
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(layer);
    /// ```
    pub fn endpoint_layer_fn<F>(self, make: F) -> BalanceLayerBuilder<EachEndpoint<F>, C, O> {
        self.with_endpoint_layer(EachEndpoint(make))
    }

    /// Any [`EndpointLayer`].
    pub fn with_endpoint_layer<W2>(self, endpoint_layer: W2) -> BalanceLayerBuilder<W2, C, O> {
        BalanceLayerBuilder {
            config: self.config,
            env: self.env,
            endpoint_layer,
            classifier: self.classifier,
            overload: self.overload,
        }
    }

    /// Judges answers for ejection with `classifier` instead of
    /// [`DefaultClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> BalanceLayerBuilder<W, C2, O> {
        BalanceLayerBuilder {
            config: self.config,
            env: self.env,
            endpoint_layer: self.endpoint_layer,
            classifier,
            overload: self.overload,
        }
    }

    /// Tells overloaded answers with `overload` instead of
    /// [`StatusOverload`] ([`NoOverload`](crate::NoOverload) for services
    /// that are not HTTP).
    pub fn overload<O2>(self, overload: O2) -> BalanceLayerBuilder<W, C, O2> {
        BalanceLayerBuilder {
            config: self.config,
            env: self.env,
            endpoint_layer: self.endpoint_layer,
            classifier: self.classifier,
            overload,
        }
    }

    /// Validates the config and builds the layer, registering its
    /// telemetry.
    pub fn build(self) -> Result<BalanceLayer<W, C, O>, ConfigError> {
        self.config.validate()?;
        let name = self
            .config
            .name
            .clone()
            .or_else(|| self.env.name().map(str::to_owned))
            .unwrap_or_else(|| "balance".to_owned());
        let own = BuildEnv::named(name.clone());
        let telemetry = match self.env.sink() {
            Some(sink) => own.with_sink(sink.clone()).telemetry(KIND, Some(&name)),
            None => own.telemetry(KIND, Some(&name)),
        };
        Ok(BalanceLayer {
            judge: Judge {
                classifier: self.classifier,
                overload: self.overload,
                overload_ejects: self.config.ejection.overload_ejects,
            },
            config: Arc::new(self.config),
            env: self.env,
            telemetry,
            endpoint_layer: self.endpoint_layer,
            made: Arc::new(Mutex::new(None)),
            view: Arc::new(OnceLock::new()),
        })
    }
}

impl<W, C, O> fmt::Debug for BalanceLayerBuilder<W, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .finish()
    }
}
