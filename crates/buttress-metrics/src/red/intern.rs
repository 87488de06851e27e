//! Label values chosen at run time — routes, server addresses — each
//! kept once, under a cap on how many and a budget on their bytes.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard};

/// The label of values past the cap, or of requests with none.
pub(super) const OTHER: &str = "_OTHER";

/// Up to a cap of distinct values, each with a slot (1 on), and slot 0
/// for everything else (`_OTHER`). Each value is allocated once and
/// shared by the map, its slot and every label the recorder keeps for
/// it, so the values take at most the byte budget.
pub(super) struct Interner {
    map: RwLock<Interned>,
    names: Vec<OnceLock<Arc<str>>>,
    budget: usize,
}

#[derive(Default)]
struct Interned {
    slots: HashMap<Arc<str>, usize>,
    /// The bytes of every value in `slots`.
    bytes: usize,
}

impl Interner {
    /// Room for `cap` values taking at most `budget` bytes together.
    pub(super) fn new(cap: usize, budget: usize) -> Self {
        let interner = Interner {
            map: RwLock::new(Interned::default()),
            names: (0..=cap).map(|_| OnceLock::new()).collect(),
            budget,
        };
        let _ = interner.names[0].set(OTHER.into());
        interner
    }

    /// The slot of `value` if it has one already; never registers it.
    /// Takes a shared lock.
    pub(super) fn known(&self, value: &str) -> Option<usize> {
        self.read().slots.get(value).copied()
    }

    /// The slot of `value`, registering it if there is room (a free slot
    /// and bytes left in the budget); `_OTHER`'s (0) otherwise.
    pub(super) fn slot(&self, value: &str) -> usize {
        if value == OTHER {
            return 0;
        }
        if let Some(slot) = self.known(value) {
            return slot;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = map.slots.get(value) {
            return *slot;
        }
        let next = map.slots.len() + 1;
        if next >= self.names.len() || map.bytes + value.len() > self.budget {
            return 0;
        }
        let name: Arc<str> = value.into();
        let _ = self.names[next].set(name.clone());
        map.slots.insert(name, next);
        map.bytes += value.len();
        next
    }

    /// The value of `slot` (`_OTHER` for 0).
    pub(super) fn name(&self, slot: usize) -> Arc<str> {
        self.names
            .get(slot)
            .and_then(OnceLock::get)
            .cloned()
            .unwrap_or_else(|| OTHER.into())
    }

    /// How many distinct values exist, `_OTHER` included.
    pub(super) fn count(&self) -> usize {
        self.read().slots.len() + 1
    }

    /// The bytes the values take (`_OTHER`, a constant, not counted).
    pub(super) fn bytes(&self) -> usize {
        self.read().bytes
    }

    fn read(&self) -> RwLockReadGuard<'_, Interned> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A server address as a request names it — `host`, `host:port`,
/// `[v6]:port` — split into the `server.address` and `server.port`
/// labels; a missing port is the scheme's.
pub(super) fn split_authority(authority: &str, https: bool) -> (&str, u16) {
    let default = if https { 443 } else { 80 };
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host, port.unwrap_or(default));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => (authority, default),
        },
        None => (authority, default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(split_authority("example.com", false), ("example.com", 80));
        assert_eq!(split_authority("example.com", true), ("example.com", 443));
        assert_eq!(split_authority("10.1.2.80:8080", true), ("10.1.2.80", 8080));
        assert_eq!(split_authority("[::1]:50051", false), ("::1", 50051));
        assert_eq!(split_authority("[::1]", true), ("::1", 443));
    }

    #[test]
    fn the_cap_and_the_budget_both_bound_the_values() {
        let interner = Interner::new(2, 10);
        assert_eq!(interner.slot("abc"), 1);
        assert_eq!(interner.slot("abc"), 1);
        assert_eq!(interner.slot("defghijk"), 0, "over the budget");
        assert_eq!(interner.slot("de"), 2);
        assert_eq!(interner.slot("f"), 0, "over the cap");
        assert_eq!(interner.count(), 3);
        assert_eq!(interner.bytes(), 5);
        assert_eq!(&*interner.name(0), OTHER);
        assert_eq!(&*interner.name(2), "de");
    }
}
