//! The stale cache: the last good answer per key, served when the call
//! fails, bounded in keys, age, body size and bytes.
//!
//! The byte budget (`max_bytes`) counts everything an entry keeps alive,
//! not just its body: a cache bounded only in keys × `max_body` holds
//! whatever keys and headers come with small bodies — request URIs and
//! response headers run to tens of kilobytes each — far past its nominal
//! size. Each entry is charged its key, each header's name and value, its
//! body, and a conservative estimate of the bookkeeping around them (the
//! map's slot, the header table, the allocations' own headers); and what
//! it keeps is copied into allocations of its own, exactly sized, so that
//! the charge is what the process holds: a header value parsed by hyper
//! is a view into the connection's whole read buffer, and a body
//! collected in a growing buffer can hold twice its length.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use buttress_core::clock;
use bytes::Bytes;
use http::header::AGE;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Version};
use tokio::time::Instant;

use crate::config::StaleConfig;

/// Builds the cache key of a request; `None` keeps it out of the cache.
pub(crate) type KeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// The default key: method and full URI (`GET http://recs/top?n=5`), so
/// that a HEAD's empty body never stands in for a GET.
pub(crate) fn default_key(parts: &Parts) -> Option<String> {
    Some(format!("{} {}", parts.method, parts.uri))
}

/// One good answer, as it was.
struct Cached {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    stored_at: Instant,
    /// What it is charged against the byte budget, key included.
    cost: usize,
}

struct Entries {
    map: HashMap<String, Arc<Cached>>,
    /// The bytes charged for every entry held.
    bytes: usize,
    /// Set when the cache was full of fresh answers (in keys or bytes):
    /// until then, new keys are not recorded (no buffering for an insert
    /// that would fail).
    full_until: Option<Instant>,
}

impl Entries {
    /// Drops expired answers, giving their bytes back.
    fn expire(&mut self, now: Instant, max_age: Duration) {
        let mut freed = 0;
        self.map.retain(|_, cached| {
            let fresh = now.saturating_duration_since(cached.stored_at) < max_age;
            if !fresh {
                freed += cached.cost;
            }
            fresh
        });
        self.bytes -= freed;
    }
}

/// What one allocation costs beyond the bytes asked for: the allocator's
/// own header and rounding, and for a `Bytes` shared by a clone (every
/// answer served clones the kept headers and body) its shared header.
const PER_ALLOCATION: usize = 64;

/// One slot of a header table: the name, the value, the links and hash
/// beside them, and the index entries pointing at it (the table keeps at
/// most three slots in use per four indices).
const PER_HEADER: usize =
    size_of::<HeaderName>() + size_of::<HeaderValue>() + 4 * size_of::<usize>() + 8;

/// An entry's bookkeeping: the answer itself behind its `Arc`, and its
/// slot in the map (a `HashMap` holds up to twice the slots it uses,
/// with a control byte each).
const PER_ENTRY: usize = size_of::<Cached>()
    + 2 * size_of::<usize>()
    + PER_ALLOCATION
    + 2 * (size_of::<(String, Arc<Cached>)>() + 1);

/// What keeping `key`, `headers` and `body` costs, in bytes of memory:
/// conservative, so that the budget bounds what the process holds.
fn cost_of(key: &str, headers: &HeaderMap, body: &Bytes) -> usize {
    let mut cost = PER_ENTRY + key.len() + PER_ALLOCATION + body.len() + PER_ALLOCATION;
    // The table is sized for its capacity, which may exceed its length.
    cost += headers.capacity().max(headers.len()) * PER_HEADER + PER_ALLOCATION;
    for (name, value) in headers {
        // A standard name is only a tag, but counting every name as its
        // own allocation keeps the charge on the safe side.
        cost += name.as_str().len() + PER_ALLOCATION;
        cost += value.len() + PER_ALLOCATION;
    }
    cost
}

/// `headers`, each value copied into an allocation of its own: a value
/// parsed from the wire shares its connection's whole read buffer.
fn compact(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        kept.append(name.clone(), copy);
    }
    kept
}

/// The cache one fallback layer keeps, shared by its every service.
///
/// Reads (is a refresh due? is there an answer?) take a shared lock; a
/// write happens once per key per refresh interval, so a hot key's
/// successes take no exclusive lock.
pub(crate) struct StaleCache {
    entries: RwLock<Entries>,
    pub(crate) key: Arc<KeyFn>,
    capacity: usize,
    max_age: Duration,
    pub(crate) max_body: usize,
    max_bytes: usize,
    refresh: Duration,
}

impl StaleCache {
    pub(crate) fn new(config: &StaleConfig, key: Arc<KeyFn>) -> Self {
        StaleCache {
            entries: RwLock::new(Entries {
                // Not presized past a few slots: what the table takes is
                // charged as entries arrive.
                map: HashMap::new(),
                bytes: 0,
                full_until: None,
            }),
            key,
            capacity: config.capacity,
            max_age: config.max_age,
            max_body: config.max_body,
            max_bytes: config.max_bytes,
            refresh: config.effective_refresh(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        // No user code runs under the lock: a poisoned one is still whole.
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a good answer for `key` should be recorded: none is kept,
    /// or the kept one is older than the refresh interval.
    pub(crate) fn wants(&self, key: &str) -> bool {
        let now = clock::now();
        let entries = self.read();
        match entries.map.get(key) {
            Some(cached) => now.saturating_duration_since(cached.stored_at) >= self.refresh,
            None => entries.full_until.is_none_or(|until| now >= until),
        }
    }

    /// Keeps a good answer for `key`, charging it against the byte budget.
    /// When the cache is full (in keys or bytes), expired answers make
    /// room; when every answer is fresh, the new one is dropped — fresh
    /// answers are worth more than a new key's (or a newer copy of one
    /// kept already). An answer larger than the whole budget is never
    /// kept.
    pub(crate) fn store(
        &self,
        mut key: String,
        status: StatusCode,
        version: Version,
        headers: &HeaderMap,
        body: Bytes,
    ) {
        let now = clock::now();
        key.shrink_to_fit();
        let headers = compact(headers);
        let cost = cost_of(&key, &headers, &body);
        if cost > self.max_bytes {
            return;
        }
        let cached = Arc::new(Cached {
            status,
            version,
            headers,
            body,
            stored_at: now,
            cost,
        });
        let mut entries = self.write();
        if !self.has_room(&entries, &key, cost) {
            entries.expire(now, self.max_age);
            if !self.has_room(&entries, &key, cost) {
                // Look again after a refresh interval, not on every call.
                entries.full_until = Some(clock::after(now, self.refresh));
                return;
            }
            entries.full_until = None;
        }
        let replaced = entries.map.insert(key, cached).map_or(0, |old| old.cost);
        entries.bytes = entries.bytes - replaced + cost;
    }

    /// Whether an answer costing `cost` fits for `key`, in place of the
    /// one kept for it if any.
    fn has_room(&self, entries: &Entries, key: &str, cost: usize) -> bool {
        let (kept, replaced) = match entries.map.get(key) {
            Some(old) => (true, old.cost),
            None => (false, 0),
        };
        (kept || entries.map.len() < self.capacity)
            && entries.bytes - replaced + cost <= self.max_bytes
    }

    /// The kept answer for `key` if it is younger than the maximum age,
    /// with an `Age` header.
    pub(crate) fn answer(&self, key: &str) -> Option<Response<Bytes>> {
        let now = clock::now();
        let cached = self.read().map.get(key)?.clone();
        let age = now.saturating_duration_since(cached.stored_at);
        if age >= self.max_age {
            return None;
        }
        let mut response = Response::new(cached.body.clone());
        *response.status_mut() = cached.status;
        *response.version_mut() = cached.version;
        *response.headers_mut() = cached.headers.clone();
        response
            .headers_mut()
            .insert(AGE, HeaderValue::from(age.as_secs()));
        Some(response)
    }

    /// Keys held now.
    pub(crate) fn len(&self) -> usize {
        self.read().map.len()
    }

    /// Bytes charged now for every answer held.
    pub(crate) fn bytes(&self) -> usize {
        self.read().bytes
    }
}

impl std::fmt::Debug for StaleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleCache")
            .field("keys", &self.len())
            .field("capacity", &self.capacity)
            .field("max_age", &self.max_age)
            .field("max_body", &self.max_body)
            .field("max_bytes", &self.max_bytes)
            .field("refresh", &self.refresh)
            .finish()
    }
}
