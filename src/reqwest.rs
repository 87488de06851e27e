//! reqwest under a client stack, with reqwest's own types at both ends
//! (features `reqwest` and `stack`).
//!
//! [`ClientStack::over_reqwest`] builds the stack over a `reqwest::Client`
//! and gives a [`ReqwestClient`]: it takes a `reqwest::Request` (or a
//! `RequestBuilder`) and answers a `reqwest::Response`, so `.json()`,
//! `.text()` and `.bytes()` work as before. Every layer applies: the
//! breaker, bulkhead, per-attempt timeout, context and metrics; the retry
//! replays request bodies from its bounded buffer, streamed ones included.
//! A refusal is an error in which `Rejected::find` finds the reason.
//!
//! ```
//! use buttress::stack::ClientStack;
//!
//! # async fn run() -> Result<(), buttress::BoxError> {
//! let http = reqwest::Client::new();
//! let catalog = ClientStack::new("catalog").over_reqwest(http.clone())?;
//! let response = catalog.send(http.get("http://127.0.0.1:8081/products")).await?;
//! let _text = response.text().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use buttress_core::BoxError;
use buttress_core::config::ConfigError;
use buttress_core::layer::DefaultClassifier;
use buttress_retry::BufferBody;
use buttress_retry::replay::BufferInto;
use tower_layer::Layer;
use tower_service::Service;

use crate::stack::{Client, ClientStack, NoFallback};

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The stack's client over reqwest, with reqwest's types at both ends;
/// built by [`ClientStack::over_reqwest`]. Cheap to clone (clones share
/// the stack's state and reqwest's connection pool); keep it in your
/// application state.
///
/// `S` is the stack over reqwest: one dependency address by default, or
/// balanced over replicas ([`ClientStack::over_reqwest_balanced`]).
#[derive(Clone)]
pub struct ReqwestClient<S = Client<Transport, BufferInto<reqwest::Body>>> {
    stack: S,
}

impl<S> std::fmt::Debug for ReqwestClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestClient").finish_non_exhaustive()
    }
}

impl ClientStack<BufferBody, DefaultClassifier, NoFallback> {
    /// Builds the stack over `client`: see the [module docs](crate::reqwest).
    pub fn over_reqwest(self, client: reqwest::Client) -> Result<ReqwestClient, ConfigError> {
        let layer = self.replay_into::<reqwest::Body>().build()?;
        Ok(ReqwestClient {
            stack: layer.layer(Transport { client }),
        })
    }

    /// Builds the stack over `client`, balanced over the replicas of the
    /// stack's `balance` section: each request goes to one replica's
    /// address (the URL's scheme and host are replaced, its path and
    /// query kept), through that replica's own breaker, bulkhead and
    /// per-attempt timeout. Fails, naming `balance`, without that section.
    ///
    /// ```
    /// use buttress::balance::BalanceConfig;
    /// use buttress::stack::ClientStack;
    ///
    /// # async fn run() -> Result<(), buttress::BoxError> {
    /// let http = reqwest::Client::new();
    /// let catalog = ClientStack::new("catalog")
    ///     .configure(|c| {
    ///         c.balance = Some(BalanceConfig {
    ///             endpoints: vec!["10.0.0.11:8081".into(), "10.0.0.12:8081".into()],
    ///             ..BalanceConfig::default()
    ///         })
    ///     })
    ///     .over_reqwest_balanced(http.clone())?;
    /// // The host in the URL is replaced by the chosen replica's address.
    /// let response = catalog.send(http.get("http://catalog/products")).await?;
    /// # drop(response); Ok(()) }
    /// ```
    #[cfg(feature = "balance")]
    pub fn over_reqwest_balanced(
        self,
        client: reqwest::Client,
    ) -> Result<ReqwestClient<BalancedTransport>, ConfigError> {
        let layer = self.replay_into::<reqwest::Body>().build()?;
        let make = buttress_balance::to_endpoint::per_endpoint(Transport { client });
        Ok(ReqwestClient {
            stack: layer.balanced(make)?,
        })
    }
}

/// The stack over reqwest balanced over replicas, as
/// [`ClientStack::over_reqwest_balanced`] builds it.
#[cfg(feature = "balance")]
pub type BalancedTransport = crate::stack::Balanced<
    buttress_balance::to_endpoint::ToEndpoint<Transport>,
    BufferInto<reqwest::Body>,
>;

impl<S> ReqwestClient<S>
where
    S: Service<http::Request<reqwest::Body>, Response = http::Response<reqwest::Body>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    /// Sends `request` through the stack.
    pub fn execute(
        &self,
        request: reqwest::Request,
    ) -> impl Future<Output = Result<reqwest::Response, BoxError>> + Send + 'static {
        let mut stack = self.stack.clone();
        async move {
            let request = http::Request::<reqwest::Body>::try_from(request)?;
            std::future::poll_fn(|cx| {
                Service::<http::Request<reqwest::Body>>::poll_ready(&mut stack, cx)
            })
            .await
            .map_err(Into::into)?;
            let response = stack.call(request).await.map_err(Into::into)?;
            Ok(reqwest::Response::from(response))
        }
    }

    /// Builds the request `builder` describes and sends it through the
    /// stack — never straight through the `reqwest::Client` that made
    /// the builder.
    pub fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> impl Future<Output = Result<reqwest::Response, BoxError>> + Send + 'static {
        let request = builder.build();
        let client = self.clone();
        async move { client.execute(request?).await }
    }
}

impl<S> Service<reqwest::Request> for ReqwestClient<S>
where
    S: Service<http::Request<reqwest::Body>, Response = http::Response<reqwest::Body>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = reqwest::Response;
    type Error = BoxError;
    type Future = BoxFuture<reqwest::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is awaited per call, on the stack's own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

/// reqwest as the stack's transport: `http` types in and out.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Service<http::Request<reqwest::Body>> for Transport {
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = BoxFuture<http::Response<reqwest::Body>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<reqwest::Body>) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            Ok(http::Response::from(response))
        })
    }
}
