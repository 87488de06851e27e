//! RED metrics — rate, errors, duration — for servers and clients: see
//! [`RedLayer`].

mod body;
mod future;
mod head;
mod intern;
mod labels;
mod layer;
mod route;
mod service;
mod table;

pub use self::body::{RedBody, RedRecord};
pub use self::future::ResponseFuture;
pub use self::head::{HeadFuture, RedHead, RedHeadLayer};
pub use self::layer::{RedConfig, RedHandle, RedLayer, RedLayerBuilder, RedSide};
pub use self::route::RouteSource;
pub use self::service::Red;
