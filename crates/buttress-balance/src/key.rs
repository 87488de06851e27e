//! What the balancer asks of endpoint keys, endpoint makers and
//! per-endpoint layers.

use std::fmt;
use std::hash::Hash;
use std::net::SocketAddr;

use tower_layer::{Identity, Layer};

/// An endpoint's key: how discovery names it. Displayed in telemetry
/// and the handle; its socket address, when it has one, is what active
/// health checks connect to.
pub trait EndpointKey: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static {
    /// The address health checks connect to (`None`: not checked).
    fn socket_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl EndpointKey for SocketAddr {
    fn socket_addr(&self) -> Option<SocketAddr> {
        Some(*self)
    }
}

impl EndpointKey for String {
    fn socket_addr(&self) -> Option<SocketAddr> {
        self.parse().ok()
    }
}

impl EndpointKey for &'static str {
    fn socket_addr(&self) -> Option<SocketAddr> {
        self.parse().ok()
    }
}

impl EndpointKey for usize {}
impl EndpointKey for u32 {}
impl EndpointKey for u64 {}

/// Makes an endpoint's service from its address: a tonic `Channel` from
/// `Endpoint::connect_lazy`, a hyper-util or reqwest client bound to that
/// address. Any `Fn(&K) -> T` is one.
pub trait MakeEndpoint<K> {
    /// The endpoint's service, before the per-endpoint layer.
    type Service;
    /// Makes the service of `key`.
    fn make(&self, key: &K) -> Self::Service;
}

impl<K, T, F: Fn(&K) -> T> MakeEndpoint<K> for F {
    type Service = T;
    fn make(&self, key: &K) -> T {
        self(key)
    }
}

/// What wraps each endpoint's service: in a client stack, the breaker,
/// bulkhead, per-attempt timeout and chaos of that endpoint.
///
/// - [`Identity`]: nothing (the default).
/// - [`EveryEndpoint`]: one layer applied to every endpoint. Buttress
///   layers share their state across `layer()` calls, so a breaker or a
///   bulkhead given this way is *one* breaker for all endpoints: use it
///   for stateless layers (a timeout, chaos).
/// - [`EachEndpoint`]: a closure that builds a fresh layer per endpoint —
///   a breaker and a bulkhead of the endpoint's own.
pub trait EndpointLayer<K, T> {
    /// The wrapped service.
    type Service;
    /// Wraps `inner`, the service of `key`.
    fn layer_for(&self, key: &K, inner: T) -> Self::Service;
}

impl<K, T> EndpointLayer<K, T> for Identity {
    type Service = T;
    fn layer_for(&self, _key: &K, inner: T) -> T {
        inner
    }
}

/// One layer for every endpoint (see [`EndpointLayer`]).
#[derive(Debug, Clone)]
pub struct EveryEndpoint<L>(pub L);

impl<K, T, L: Layer<T>> EndpointLayer<K, T> for EveryEndpoint<L> {
    type Service = L::Service;
    fn layer_for(&self, _key: &K, inner: T) -> L::Service {
        self.0.layer(inner)
    }
}

/// A fresh layer per endpoint, from a closure given the endpoint's key
/// (see [`EndpointLayer`]).
#[derive(Clone)]
pub struct EachEndpoint<F>(pub F);

impl<F> fmt::Debug for EachEndpoint<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EachEndpoint")
    }
}

impl<K, T, L: Layer<T>, F: Fn(&K) -> L> EndpointLayer<K, T> for EachEndpoint<F> {
    type Service = L::Service;
    fn layer_for(&self, key: &K, inner: T) -> L::Service {
        (self.0)(key).layer(inner)
    }
}
