//! The config's endpoints, resolved once or on an interval.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::Stream;
use tokio::time::Sleep;
use tower::discover::Change;

use crate::config::{BalanceConfig, EndpointAddress};
use crate::key::MakeEndpoint;

/// How long one DNS lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

type Lookups = Pin<Box<dyn Future<Output = Vec<(usize, Option<Vec<SocketAddr>>)>> + Send>>;

/// The discovery stream of a config's `endpoints`: IP literals at once,
/// names through DNS (`tokio::net::lookup_host`, each lookup cut at 5 s)
/// — once, or every `discovery_interval` when set, inserting addresses
/// that appeared and removing those that went.
///
/// A lookup that fails keeps that name's previous addresses: a DNS
/// outage must not empty the table. Without an interval the stream ends
/// after the first resolution (the set stays).
pub struct ConfigEndpoints<M> {
    make: M,
    ips: Vec<SocketAddr>,
    names: Vec<(usize, String, u16)>,
    /// Each name's last good answer.
    resolved: HashMap<usize, Vec<SocketAddr>>,
    current: HashSet<SocketAddr>,
    pending: VecDeque<Change<SocketAddr, ()>>,
    interval: Option<Duration>,
    lookups: Option<Lookups>,
    sleep: Option<Pin<Box<Sleep>>>,
    started: bool,
}

impl<M> ConfigEndpoints<M> {
    /// The stream of `config.endpoints`, each made by `make`.
    pub fn new(config: &BalanceConfig, make: M) -> Self {
        let mut ips = Vec::new();
        let mut names = Vec::new();
        for (i, entry) in config.endpoints.iter().enumerate() {
            // Validated when the layer was built.
            match EndpointAddress::parse(entry) {
                Ok(EndpointAddress::Ip(addr)) => ips.push(addr),
                Ok(EndpointAddress::Name { host, port }) => names.push((i, host, port)),
                Err(_) => {}
            }
        }
        ConfigEndpoints {
            make,
            ips,
            names,
            resolved: HashMap::new(),
            current: HashSet::new(),
            pending: VecDeque::new(),
            interval: config.discovery_interval,
            lookups: None,
            sleep: None,
            started: false,
        }
    }

    fn lookups(&self) -> Lookups {
        let names = self.names.clone();
        Box::pin(async move {
            let mut answers = Vec::with_capacity(names.len());
            for (i, host, port) in names {
                let lookup = tokio::net::lookup_host((host.as_str(), port));
                let addrs = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                    Ok(Ok(addrs)) => Some(addrs.collect()),
                    Ok(Err(err)) => {
                        tracing::warn!(%host, error = %err, "endpoint lookup failed; keeping its last addresses");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(%host, "endpoint lookup timed out; keeping its last addresses");
                        None
                    }
                };
                answers.push((i, addrs));
            }
            answers
        })
    }

    /// Queues the changes from the current set to what the config and
    /// the last answers say.
    fn update(&mut self) {
        let wanted: HashSet<SocketAddr> = self
            .ips
            .iter()
            .copied()
            .chain(self.resolved.values().flatten().copied())
            .collect();
        for gone in self.current.difference(&wanted) {
            self.pending.push_back(Change::Remove(*gone));
        }
        for new in wanted.difference(&self.current) {
            self.pending.push_back(Change::Insert(*new, ()));
        }
        self.current = wanted;
    }
}

impl<M> Unpin for ConfigEndpoints<M> {}

impl<M: MakeEndpoint<SocketAddr>> Stream for ConfigEndpoints<M> {
    type Item = Result<Change<SocketAddr, M::Service>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(change) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(match change {
                    Change::Insert(addr, ()) => Change::Insert(addr, this.make.make(&addr)),
                    Change::Remove(addr) => Change::Remove(addr),
                })));
            }
            if let Some(lookups) = this.lookups.as_mut() {
                let answers = ready!(lookups.as_mut().poll(cx));
                this.lookups = None;
                for (i, addrs) in answers {
                    if let Some(addrs) = addrs {
                        this.resolved.insert(i, addrs);
                    }
                }
                this.update();
                if let Some(every) = this.interval {
                    this.sleep = Some(Box::pin(tokio::time::sleep(every)));
                }
                continue;
            }
            if !this.started {
                this.started = true;
                if this.names.is_empty() {
                    this.update();
                } else {
                    this.lookups = Some(this.lookups());
                }
                continue;
            }
            match this.sleep.as_mut() {
                Some(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.sleep = None;
                    this.lookups = Some(this.lookups());
                }
                // Resolved once, or nothing to resolve: the set stays.
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<M> fmt::Debug for ConfigEndpoints<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigEndpoints")
            .field("ips", &self.ips)
            .field("names", &self.names)
            .field("current", &self.current)
            .field("interval", &self.interval)
            .finish()
    }
}
