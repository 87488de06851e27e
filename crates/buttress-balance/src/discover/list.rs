//! A fixed set of endpoints.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tower::discover::Change;

/// A discovery stream of a fixed set of endpoints: every one inserted at
/// once, then the stream ends (the set stays as it is).
///
/// ```
/// use buttress_balance::{BalanceLayer, NoOverload, discover};
/// use buttress_core::classify::AnyErrorFails;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let backend = |n: u32| tower::service_fn(move |_: ()| async move { Ok::<_, std::convert::Infallible>(n) });
/// // Not HTTP: any error fails, nothing is an overload but a refusal.
/// let layer = BalanceLayer::builder().classifier(AnyErrorFails).overload(NoOverload).build().unwrap();
/// let client = layer.discover(discover::static_list([(1u32, backend(1)), (2, backend(2))]));
/// assert!([1, 2].contains(&client.oneshot(()).await.unwrap()));
/// # }
/// ```
pub fn static_list<K, S>(endpoints: impl IntoIterator<Item = (K, S)>) -> StaticList<K, S> {
    StaticList {
        pending: endpoints
            .into_iter()
            .map(|(key, service)| Change::Insert(key, service))
            .collect(),
    }
}

/// See [`static_list`].
#[derive(Debug)]
pub struct StaticList<K, S> {
    pending: VecDeque<Change<K, S>>,
}

impl<K, S> Unpin for StaticList<K, S> {}

impl<K, S> Stream for StaticList<K, S> {
    type Item = Result<Change<K, S>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.pending.pop_front().map(Ok))
    }
}
