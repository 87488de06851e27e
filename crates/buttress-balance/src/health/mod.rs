//! Active health checks: a background task per balancer that asks each
//! endpoint, on an interval, whether it is well.
//!
//! The task starts at the balancer's first `poll_ready` inside a tokio
//! runtime (a balancer built outside one starts it there), holds the
//! balancer only weakly, and ends when the balancer is dropped. Its cost
//! is bounded: one round at a time, at most `max_concurrent` checks in
//! flight, each cut at `timeout`; rounds are `interval` apart, jittered
//! by ±10 % so that many clients do not check in step.

#[cfg(feature = "grpc")]
mod grpc;
mod http;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::{Arc, Weak};

use buttress_core::clock;
use tokio::task::JoinSet;

use crate::config::{HealthCheckConfig, HealthProbe};
use crate::key::EndpointKey;
use crate::shared::Shared;

/// Starts the health-check task, once, if the config asks for one.
pub(crate) fn start<K, S, J>(shared: &Arc<Shared<K, S, J>>)
where
    K: EndpointKey,
    S: Send + Sync + 'static,
    J: Clone + Send + Sync + 'static,
{
    if shared.health_started.load(Relaxed) {
        return;
    }
    let Some(config) = shared.common.policy.config.health_check.clone() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if shared.health_started.swap(true, AcqRel) {
        return;
    }
    runtime.spawn(run(Arc::downgrade(shared), config));
}

async fn run<K, S, J>(balancer: Weak<Shared<K, S, J>>, config: HealthCheckConfig)
where
    K: EndpointKey,
    S: Send + Sync + 'static,
    J: Clone + Send + Sync + 'static,
{
    let probe = Probe::new(&config.probe);
    loop {
        let Some(shared) = balancer.upgrade() else {
            return;
        };
        let table = shared.table();
        let spread = 0.9 + 0.2 * shared.rng.next_f64();
        // Not held across the waits: dropping the balancer ends the task.
        drop(shared);
        let mut checks = JoinSet::new();
        for endpoint in table.iter() {
            let Some(addr) = endpoint.key.socket_addr() else {
                continue;
            };
            while checks.len() >= config.max_concurrent {
                settle(checks.join_next().await, &config);
            }
            let endpoint = endpoint.clone();
            let probe = probe.clone();
            let timeout = config.timeout;
            checks.spawn(async move {
                let healthy = tokio::time::timeout(timeout, probe.check(addr))
                    .await
                    .unwrap_or(false);
                (endpoint, healthy)
            });
        }
        while let Some(done) = checks.join_next().await {
            settle(Some(done), &config);
        }
        drop(table);
        tokio::time::sleep(config.interval.mul_f64(spread)).await;
    }
}

type Checked<E> = Option<Result<(Arc<E>, bool), tokio::task::JoinError>>;

fn settle<K, D>(done: Checked<crate::endpoint::Endpoint<K, D>>, config: &HealthCheckConfig) {
    if let Some(Ok((endpoint, healthy))) = done {
        let now = clock::ticks(tokio::time::Instant::now());
        endpoint.checked(
            healthy,
            now,
            config.healthy_threshold,
            config.unhealthy_threshold,
        );
    }
}

/// What a check asks.
#[derive(Debug, Clone)]
enum Probe {
    Http(Arc<str>),
    #[cfg(feature = "grpc")]
    Grpc(Arc<str>),
}

impl Probe {
    fn new(probe: &HealthProbe) -> Self {
        match probe {
            HealthProbe::Http { path } => Probe::Http(Arc::from(path.as_str())),
            #[cfg(feature = "grpc")]
            HealthProbe::Grpc { service } => Probe::Grpc(Arc::from(service.as_str())),
            // Refused by validation without the feature.
            #[cfg(not(feature = "grpc"))]
            HealthProbe::Grpc { .. } => Probe::Http(Arc::from("/")),
        }
    }

    async fn check(&self, addr: SocketAddr) -> bool {
        match self {
            Probe::Http(path) => http::check(addr, path).await,
            #[cfg(feature = "grpc")]
            Probe::Grpc(service) => grpc::check(addr, service).await,
        }
    }
}
