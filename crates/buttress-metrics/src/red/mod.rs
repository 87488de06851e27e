//! RED metrics — rate, errors, duration — for servers and clients: see
//! [`RedLayer`].

mod body;
mod future;
mod labels;
mod layer;
mod route;
mod service;
mod table;

pub use self::body::RedBody;
pub use self::future::ResponseFuture;
pub use self::layer::{RedConfig, RedHandle, RedLayer, RedLayerBuilder, RedSide};
pub use self::route::RouteSource;
pub use self::service::Red;
