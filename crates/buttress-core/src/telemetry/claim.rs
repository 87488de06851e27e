//! Names in use: a second layer registered under a name a live layer of
//! its kind already uses gets a distinct one, so that two layers never
//! merge into one set of series.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::event::{LayerId, LayerKind};

/// Where names must be distinct: an opaque value a sink picks, the same
/// for every layer whose series would merge (a metrics sink uses the
/// address of the recorder it resolves handles against).
pub type Space = usize;

type Key = (Space, LayerKind, Arc<str>);

/// The instances of each name in use. Touched when a layer registers and
/// when it is dropped, never on the request path.
static CLAIMS: Mutex<Option<HashMap<Key, Vec<u32>>>> = Mutex::new(None);

/// A layer's claim on its name in one [`Space`], held for as long as the
/// layer reports; dropping it frees the name.
///
/// The first live layer of a kind and name keeps its name; a second one
/// registered while the first still lives is told `name#2` (a third
/// `name#3`, and so on, the smallest number free) and a warning is
/// logged. A layer built again after the first was dropped — a reloaded
/// config — gets the name back, and continues its series.
///
/// ```
/// use buttress_core::telemetry::{LayerId, LayerKind, NameClaim};
///
/// let id = LayerId::new(LayerKind::Breaker, "payments");
/// let first = NameClaim::claim(7, &id);
/// let second = NameClaim::claim(7, &id);
/// assert_eq!(first.id().name(), "payments");
/// assert_eq!(second.id().name(), "payments#2");
/// // Another space, or another kind, is another namespace.
/// assert_eq!(NameClaim::claim(8, &id).id().name(), "payments");
/// drop(first);
/// assert_eq!(NameClaim::claim(7, &id).id().name(), "payments");
/// ```
pub struct NameClaim {
    key: Key,
    instance: u32,
    id: LayerId,
}

impl NameClaim {
    /// Claims `id`'s kind and name in `space`: the name itself if no live
    /// layer of that kind uses it there, else a distinct one.
    pub fn claim(space: Space, id: &LayerId) -> NameClaim {
        let base: Arc<str> = Arc::from(id.name());
        let key = (space, id.kind(), base);
        let instance = {
            let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
            let taken = claims
                .get_or_insert_with(HashMap::new)
                .entry(key.clone())
                .or_default();
            let instance = (1..).find(|n| !taken.contains(n)).unwrap_or(u32::MAX);
            taken.push(instance);
            instance
        };
        let id = if instance == 1 {
            id.clone()
        } else {
            let distinct = LayerId::new(id.kind(), format!("{}#{instance}", id.name()));
            tracing::warn!(
                layer.kind = id.kind().as_str(),
                layer = id.name(),
                reported_as = distinct.name(),
                "two live layers of one kind share a name; the later one reports under a distinct name"
            );
            distinct
        };
        NameClaim { key, instance, id }
    }

    /// The identity to report under: the layer's own, or a distinct one.
    pub fn id(&self) -> &LayerId {
        &self.id
    }
}

impl Drop for NameClaim {
    fn drop(&mut self) {
        let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = claims.as_mut() else { return };
        if let Some(taken) = map.get_mut(&self.key) {
            taken.retain(|n| *n != self.instance);
            if taken.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

impl fmt::Debug for NameClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameClaim").field("id", &self.id).finish()
    }
}
