//! Bulkheads: a fixed number of concurrent calls per compartment.
//!
//! A ship's bulkheads keep one breach from flooding the hull. A service's
//! keep one slow dependency (or one noisy tenant, or one heavy route) from
//! taking every worker, connection and socket: calls to payments queue or
//! fail fast while inventory calls go on untouched. Each bulkhead allows
//! `max_concurrent` calls at once; beyond that a caller may wait in a
//! bounded queue (capacity, maximum wait, FIFO or LIFO, and never past its
//! request's deadline) or is refused at once with
//! [`Reason::BulkheadFull`](buttress_core::Reason::BulkheadFull). A caller
//! whose wait runs out is refused with
//! [`Reason::QueueTimeout`](buttress_core::Reason::QueueTimeout). Both are
//! "never sent": they never count against the dependency.
//!
//! A keyed bulkhead ([`BulkheadLayerBuilder::build_keyed`]) keeps one such
//! compartment per key — tenant, route, host — in core's bounded keyed map
//! (`max_keys`), and caps the calls in flight or queued across every key
//! at `max_total` (default `max_keys × max_concurrent`). Below the cap a
//! new key is always admitted, however many keys hold calls open: a busy
//! key is never evicted, so once `max_keys` keys are busy, new keys share
//! one overflow compartment limited only by the cap — never a
//! compartment of one key's size that a caller holding calls open on
//! invented keys could fill for everyone. With `max_total ≤ max_keys`
//! there cannot be that many busy keys, and every key gets a compartment
//! of its own. At the cap every call, on any key, is refused alike with
//! `BulkheadFull`.
//!
//! Every setting is data in a [`BulkheadConfig`]; the builder
//! ([`BulkheadLayer::builder`]) adds only a keyed bulkhead's key closure.
//! A layer's gauges (calls in flight, callers queued) are read through
//! its handle: [`BulkheadHandle`], or [`KeyedBulkheadHandle`] per key.
//!
//! ```
//! use buttress_core::layer::LayerConfig;
//! use buttress_limit::BulkheadConfig;
//!
//! let config = BulkheadConfig { max_concurrent: 16, ..BulkheadConfig::default() };
//! let layer = config.build().unwrap();
//! assert_eq!(layer.handle().max_concurrent(), 16);
//! ```

mod config;
mod future;
mod layer;
mod scope;
mod service;

pub use self::config::{BulkheadConfig, BulkheadLayerBuilder};
pub use self::future::ResponseFuture;
pub use self::layer::{BulkheadHandle, BulkheadLayer, KeyedBulkheadHandle};
pub use self::scope::{Global, PerKey};
pub use self::service::Bulkhead;
