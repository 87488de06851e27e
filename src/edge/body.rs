//! [`EdgeBody`]: the inner service's body, or the edge's own short one.

use buttress_core::body::LocalOrInner;

/// The response body of an [`Edge`](super::Edge): the inner service's
/// body, passed through without boxing, or the short body of an answer
/// the edge wrote itself (a rejection, an error or a panic answer), which
/// [`is_local`](LocalOrInner::is_local) tells apart.
pub type EdgeBody<B> = LocalOrInner<B>;
