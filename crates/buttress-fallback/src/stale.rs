//! The stale cache: the last good answer per key, served when the call
//! fails, bounded in keys, age and body size.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use buttress_core::clock;
use bytes::Bytes;
use http::header::AGE;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};
use tokio::time::Instant;

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
}

struct Entries {
    map: HashMap<String, Arc<Cached>>,
    /// Set when the map was full of fresh answers: until then, new keys
    /// are not recorded (no buffering for an insert that would fail).
    full_until: Option<Instant>,
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
    refresh: Duration,
}

impl StaleCache {
    pub(crate) fn new(
        capacity: usize,
        max_age: Duration,
        max_body: usize,
        refresh: Duration,
        key: Arc<KeyFn>,
    ) -> Self {
        StaleCache {
            entries: RwLock::new(Entries {
                map: HashMap::with_capacity(capacity.min(1024)),
                full_until: None,
            }),
            key,
            capacity,
            max_age,
            max_body,
            refresh,
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
            None => match &entries.full_until {
                Some(until) if entries.map.len() >= self.capacity => now >= *until,
                _ => true,
            },
        }
    }

    /// Keeps a good answer for `key`. When the map is full, expired
    /// answers make room; when every answer is fresh, the new one is
    /// dropped — fresh answers are worth more than a new key's.
    pub(crate) fn store(
        &self,
        key: String,
        status: StatusCode,
        version: Version,
        headers: HeaderMap,
        body: Bytes,
    ) {
        let now = clock::now();
        let cached = Arc::new(Cached {
            status,
            version,
            headers,
            body,
            stored_at: now,
        });
        let mut entries = self.write();
        if !entries.map.contains_key(&key) && entries.map.len() >= self.capacity {
            let max_age = self.max_age;
            entries
                .map
                .retain(|_, cached| now.saturating_duration_since(cached.stored_at) < max_age);
            if entries.map.len() >= self.capacity {
                // Look again after a refresh interval, not on every call.
                entries.full_until = Some(clock::after(now, self.refresh));
                return;
            }
            entries.full_until = None;
        }
        entries.map.insert(key, cached);
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
}

impl std::fmt::Debug for StaleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleCache")
            .field("keys", &self.len())
            .field("capacity", &self.capacity)
            .field("max_age", &self.max_age)
            .field("max_body", &self.max_body)
            .field("refresh", &self.refresh)
            .finish()
    }
}
