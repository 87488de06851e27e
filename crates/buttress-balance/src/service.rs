//! The balancer service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_core::telemetry::Event;
use buttress_core::{BoxError, Classify, Reason, Rejected, clock};
use tower_service::Service;

use crate::endpoint::Detected;
use crate::future::ResponseFuture;
use crate::handle::BalanceHandle;
use crate::judge::{Judge, Overload};
use crate::key::EndpointKey;
use crate::pick;
use crate::shared::{Shared, Table};

/// A client that spreads calls over a changing set of endpoints: power
/// of two choices on each endpoint's peak-EWMA latency × (calls in
/// flight + 1), skipping endpoints that outlier ejection or health
/// checks took out, ramping new ones up (slow start).
///
/// Made by [`BalanceLayer`](crate::BalanceLayer). Clones share
/// everything: the table, each endpoint's load, ejection and health. A
/// clone is cheap (two `Arc`s) and so is a call: a few atomic loads to
/// choose, and a clone of the endpoint's service to call it, so that no
/// call waits for another.
///
/// `poll_ready` is always ready (it only takes discovery's changes, when
/// there are some); the chosen endpoint's own readiness is awaited in
/// the response future. With no endpoint available a call fails at once
/// with a [`Rejected`] of [`Reason::NoEndpoint`], never sent, its retry
/// hint the time until the first ejection ends.
pub struct Balance<K, S, C, O> {
    shared: Arc<Shared<K, S, Judge<C, O>>>,
    table: Table<K, S, Judge<C, O>>,
    epoch: u64,
}

impl<K, S, C, O> Balance<K, S, C, O>
where
    K: EndpointKey,
    S: Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(shared: Arc<Shared<K, S, Judge<C, O>>>) -> Self {
        shared.discover();
        let epoch = shared.epoch();
        let table = shared.table();
        Balance {
            shared,
            table,
            epoch,
        }
    }

    /// A handle on the balancer's endpoints.
    pub fn handle(&self) -> BalanceHandle {
        BalanceHandle::of(self.shared.clone())
    }

    /// Takes discovery's changes and this clone's view of the table up to
    /// date.
    #[inline]
    fn refresh(&mut self) {
        self.shared.discover();
        let epoch = self.shared.epoch();
        if epoch != self.epoch {
            self.table = self.shared.table();
            self.epoch = epoch;
        }
    }
}

impl<K, S, C, O> Clone for Balance<K, S, C, O> {
    fn clone(&self) -> Self {
        Balance {
            shared: self.shared.clone(),
            table: self.table.clone(),
            epoch: self.epoch,
        }
    }
}

impl<K, S, C, O> fmt::Debug for Balance<K, S, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balance")
            .field("balancer", self.shared.telemetry.layer())
            .field("endpoints", &self.table.len())
            .finish()
    }
}

impl<K, S, C, O, Req> Service<Req> for Balance<K, S, C, O>
where
    K: EndpointKey,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    C: Classify<S::Response> + Clone + Send + Sync + 'static,
    O: Overload<S::Response> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<K, Detected<S, Judge<C, O>>, Req, Judge<C, O>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.refresh();
        crate::health::start(&self.shared);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.refresh();
        let start = clock::now();
        let now = clock::ticks(start);
        match pick::choose(&self.table, now, &self.shared.rng) {
            Some(endpoint) => {
                endpoint.start();
                ResponseFuture::new(
                    endpoint.clone(),
                    endpoint.service.clone(),
                    req,
                    self.shared.judge.clone(),
                    now,
                )
            }
            None => {
                self.shared
                    .telemetry
                    .report(Event::Rejected(Reason::NoEndpoint));
                let mut rejected = Rejected::new(Reason::NoEndpoint);
                if let Some(wait) = pick::soonest_back(&self.table, now) {
                    rejected = rejected.with_retry_after(Duration::from_nanos(wait));
                }
                ResponseFuture::rejected(rejected)
            }
        }
    }
}
