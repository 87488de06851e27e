//! Making room: evicting unused entries, neutral before idle, oldest
//! first.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::map::{Entry, KeyedMap};
use super::{KeyedState, Retention};
use crate::clock;

/// Ages are counted in sweeps; anything older than this many sweeps is
/// simply "old".
const AGE_BUCKETS: usize = 64;

/// How long a fruitless sweep's back-off lasts at most. What an entry is
/// worth changes with time (an open breaker no call reaches turns idle
/// after its wait), so a map full of live state is looked at again at
/// least this often while new keys keep coming — and at once by the first
/// new key after a quiet spell — however many calls the back-off had left.
pub(super) const SWEEP_AFTER: Duration = Duration::from_millis(100);

/// The classes a sweep may evict, in the order it evicts them.
const EVICTABLE: [Retention; 2] = [Retention::Neutral, Retention::Idle];

/// What one sweep evicts of one class: every entry older than `cutoff`,
/// and of the cutoff age itself as many as the batch still needs.
#[derive(Debug, Clone, Copy)]
struct Plan {
    cutoff: usize,
    budget: usize,
}

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

    /// Evicts up to one batch of unused entries: neutral ones first, then
    /// idle ones, least recently used first within each. Runs on the insert
    /// path when the map is full, one sweep at a time; a caller that finds
    /// a sweep under way does not wait for it.
    ///
    /// A sweep that finds nothing to evict backs off: the next inserts go
    /// to the overflow entry without a scan — a batch of them, doubled by
    /// each fruitless sweep in a row up to the capacity, so that a flood
    /// against a map full of live state costs about one entry looked at
    /// per insert — until [`SWEEP_AFTER`] has passed.
    pub(super) fn sweep(&self) {
        let now = clock::now();
        let ticks = clock::ticks(now);
        let lapsed = ticks.saturating_sub(self.fruitless_at.load(Ordering::Relaxed))
            >= clock::nanos(SWEEP_AFTER);
        if !lapsed
            && self
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
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let age = |entry: &Entry<K, V>| {
            let last = entry.slot.last_used.load(Ordering::Relaxed);
            (generation.saturating_sub(last) as usize).min(AGE_BUCKETS - 1)
        };
        // The class an entry may be evicted as, if any: the map's own
        // reference must be the only one (no request holds it).
        let class = |entry: &Entry<K, V>| -> Option<usize> {
            if Arc::strong_count(&entry.slot) != 1 {
                return None;
            }
            let retention = entry.slot.value.retention(now);
            EVICTABLE.iter().position(|class| *class == retention)
        };

        let mut by_age = [[0usize; AGE_BUCKETS]; EVICTABLE.len()];
        for shard in self.shards.iter() {
            for entry in shard.read().iter() {
                if let Some(class) = class(entry) {
                    by_age[class][age(entry)] += 1;
                }
            }
        }

        // Per class, in eviction order: the youngest age that must go to
        // fill what is left of the batch, oldest first.
        let batch = self.sweep_batch();
        let mut left = batch;
        let mut plans = [None; EVICTABLE.len()];
        for (plan, counts) in plans.iter_mut().zip(&by_age) {
            if left == 0 {
                break;
            }
            let mut found = 0;
            for (bucket_age, count) in counts.iter().enumerate().rev() {
                if *count == 0 {
                    continue;
                }
                found += count;
                *plan = Some(Plan {
                    cutoff: bucket_age,
                    budget: found.min(left),
                });
                if found >= left {
                    break;
                }
            }
            left -= found.min(left);
        }
        if left == batch {
            let backoff = self
                .backoff_len
                .load(Ordering::Relaxed)
                .saturating_mul(2)
                .clamp(batch, self.capacity);
            self.backoff_len.store(backoff, Ordering::Relaxed);
            self.sweep_backoff.store(backoff, Ordering::Relaxed);
            self.fruitless_at.store(ticks, Ordering::Relaxed);
            return;
        }
        self.backoff_len.store(0, Ordering::Relaxed);

        // Per class: everything older than its cutoff goes; of the cutoff
        // age itself, only as many as its budget still allows. Entries are
        // re-checked under the write lock: a request may have revived one
        // meanwhile (an entry that became more evictable may go in its
        // new class's pass instead).
        let mut freed = 0;
        for (index, plan) in plans.iter().enumerate() {
            let Some(Plan { cutoff, mut budget }) = *plan else {
                continue;
            };
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
                        if budget == 0 || !in_pass || class(entry).is_none_or(|c| c > index) {
                            return true;
                        }
                        budget -= 1;
                        freed += 1;
                        false
                    });
                }
            }
        }
        self.len.fetch_sub(freed, Ordering::Relaxed);
        self.evicted.fetch_add(freed as u64, Ordering::Relaxed);
    }
}
