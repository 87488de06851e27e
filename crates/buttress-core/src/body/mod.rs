//! Response bodies layers hand back: [`LocalOrInner`] (the inner body, or
//! one a layer wrote) and [`Watched`] (the inner body, with a watcher told
//! how it ends).

mod local;
mod watched;

pub use self::local::LocalOrInner;
pub use self::watched::{BodyEnd, Watch, Watched};
