//! A set of endpoints the application feeds.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;
use tower::discover::Change;

/// A discovery stream fed by hand: [`EndpointSender::insert`] and
/// [`EndpointSender::remove`] reach the balancer at its next call. The
/// channel holds at most `capacity` changes not yet taken (a sender
/// waits for room beyond that); dropping every sender ends the stream,
/// and the set stays as it was.
///
/// `capacity` must be at least 1 (0 is taken as 1).
pub fn channel<K, S>(capacity: usize) -> (EndpointSender<K, S>, EndpointReceiver<K, S>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (EndpointSender { tx }, EndpointReceiver { rx })
}

/// Feeds a [`channel`]'s balancer.
pub struct EndpointSender<K, S> {
    tx: mpsc::Sender<Change<K, S>>,
}

/// The balancer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the balancer is gone")
    }
}

impl std::error::Error for Closed {}

impl<K, S> EndpointSender<K, S> {
    /// Adds an endpoint (or replaces the one of the same key).
    pub async fn insert(&self, key: K, service: S) -> Result<(), Closed> {
        self.tx
            .send(Change::Insert(key, service))
            .await
            .map_err(|_| Closed)
    }

    /// Removes an endpoint. Calls in flight to it finish.
    pub async fn remove(&self, key: K) -> Result<(), Closed> {
        self.tx.send(Change::Remove(key)).await.map_err(|_| Closed)
    }
}

impl<K, S> Clone for EndpointSender<K, S> {
    fn clone(&self) -> Self {
        EndpointSender {
            tx: self.tx.clone(),
        }
    }
}

impl<K, S> fmt::Debug for EndpointSender<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSender")
    }
}

/// The stream end of a [`channel`]: give it to
/// [`BalanceLayer::discover`](crate::BalanceLayer::discover).
pub struct EndpointReceiver<K, S> {
    rx: mpsc::Receiver<Change<K, S>>,
}

impl<K, S> fmt::Debug for EndpointReceiver<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointReceiver")
    }
}

impl<K, S> Stream for EndpointReceiver<K, S> {
    type Item = Result<Change<K, S>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|change| change.map(Ok))
    }
}
