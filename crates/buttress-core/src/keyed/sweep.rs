//! Making room: evicting neutral, idle, unused entries, oldest first.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::KeyedState;
use super::map::{Entry, KeyedMap};

/// Ages are counted in sweeps; anything older than this many sweeps is
/// simply "old".
const AGE_BUCKETS: usize = 64;

impl<K, V> KeyedMap<K, V>
where
    K: Hash + Eq,
    V: KeyedState,
{
    /// How many entries one sweep frees: an eighth of the capacity, so a
    /// flood of new keys pays for a full scan only once per that many
    /// inserts.
    fn sweep_batch(&self) -> usize {
        (self.capacity / 8).max(1)
    }

    /// Evicts up to one batch of neutral entries, least recently used
    /// first. Runs on the insert path when the map is full, one sweep at a
    /// time; a caller that finds a sweep under way does not wait for it.
    pub(super) fn sweep(&self) {
        if self
            .sweep_backoff
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            // A recent sweep found the map full of live state; don't rescan
            // the whole map for every new key of a flood.
            return;
        }
        let Ok(_sweeping) = self.sweeping.try_lock() else {
            return;
        };
        let now = Instant::now();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let age = |entry: &Entry<K, V>| {
            let last = entry.slot.last_used.load(Ordering::Relaxed);
            (generation.saturating_sub(last) as usize).min(AGE_BUCKETS - 1)
        };
        let evictable = |entry: &Entry<K, V>| {
            // The map's own reference is the only one: no request holds it.
            Arc::strong_count(&entry.slot) == 1 && entry.slot.value.is_neutral(now)
        };

        let mut by_age = [0usize; AGE_BUCKETS];
        for shard in self.shards.iter() {
            for entry in shard.read().iter() {
                if evictable(entry) {
                    by_age[age(entry)] += 1;
                }
            }
        }

        // The youngest age that must go to free a batch, oldest first.
        let batch = self.sweep_batch();
        let mut found = 0;
        let mut cutoff = AGE_BUCKETS;
        for (bucket_age, count) in by_age.iter().enumerate().rev() {
            if *count == 0 {
                continue;
            }
            found += count;
            cutoff = bucket_age;
            if found >= batch {
                break;
            }
        }
        if found == 0 {
            self.sweep_backoff.store(batch, Ordering::Relaxed);
            return;
        }

        // Everything older than the cutoff goes; of the cutoff age itself,
        // only as many as the batch still needs. States are re-checked
        // under the write lock: a request may have revived one meanwhile.
        let mut budget = batch;
        for pass_takes_cutoff in [false, true] {
            for shard in self.shards.iter() {
                if budget == 0 {
                    break;
                }
                shard.write().retain(|entry| {
                    let entry_age = age(entry);
                    let in_pass = if pass_takes_cutoff {
                        entry_age == cutoff
                    } else {
                        entry_age > cutoff
                    };
                    if budget == 0 || !in_pass || !evictable(entry) {
                        return true;
                    }
                    budget -= 1;
                    false
                });
            }
        }
        let freed = batch - budget;
        self.len.fetch_sub(freed, Ordering::Relaxed);
        self.evicted.fetch_add(freed as u64, Ordering::Relaxed);
    }
}
