//! The sharded map and its read and insert paths.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;

use super::{KeyedEntry, KeyedState, Slot};

pub(super) struct Entry<K, V> {
    pub(super) key: K,
    pub(super) hash: u64,
    pub(super) slot: Arc<Slot<V>>,
}

/// One shard, on its own cache lines so that readers of different shards
/// do not contend on the lock word.
#[repr(align(128))]
pub(super) struct Shard<K, V> {
    table: RwLock<HashTable<Entry<K, V>>>,
}

impl<K, V> Shard<K, V> {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashTable<Entry<K, V>>> {
        // A panic elsewhere while holding the lock cannot leave the table
        // half-updated (no user code runs under the write lock), so a
        // poisoned lock is still sound to use.
        self.table
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashTable<Entry<K, V>>> {
        self.table
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A bounded concurrent map from keys to per-key state; see the
/// [module documentation](super).
///
/// Keys are hashed with std's randomly seeded SipHash: keys come from
/// requests, and a predictable hash would let a caller aim every key at
/// one shard.
pub struct KeyedMap<K, V> {
    pub(super) shards: Box<[Shard<K, V>]>,
    hasher: RandomState,
    pub(super) len: AtomicUsize,
    pub(super) capacity: usize,
    overflow: Arc<Slot<V>>,
    /// The logical clock of recency: bumped by every sweep, so an entry's
    /// age is the number of sweeps since it was last used.
    pub(super) generation: AtomicU64,
    /// Serialises sweeps; never taken on the read path.
    pub(super) sweeping: Mutex<()>,
    /// Inserts left to send to the overflow entry before sweeping again,
    /// after a sweep found nothing to evict.
    pub(super) sweep_backoff: AtomicUsize,
    /// The back-off the last fruitless sweep set: a batch, doubled by each
    /// fruitless sweep in a row up to the capacity; 0 after a sweep that
    /// evicted.
    pub(super) backoff_len: AtomicUsize,
    /// When the last fruitless sweep ran, in [`clock::ticks`]: the
    /// back-off lapses [`SWEEP_AFTER`](super::sweep::SWEEP_AFTER) later.
    ///
    /// [`clock::ticks`]: crate::clock::ticks
    pub(super) fruitless_at: AtomicU64,
    pub(super) evicted: AtomicU64,
    overflowed: AtomicU64,
}

/// Counters describing a map's life so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedStats {
    /// Keys held now.
    pub len: usize,
    /// The most keys it may hold.
    pub capacity: usize,
    /// Entries evicted to make room: neutral ones, then idle ones (see
    /// [`Retention`](super::Retention)).
    pub evicted: u64,
    /// Lookups answered with the overflow entry because every slot was
    /// live.
    pub overflowed: u64,
}

impl<K, V> KeyedMap<K, V>
where
    K: Hash + Eq,
    V: KeyedState,
{
    /// A map holding at most `capacity` keys (at least 1), with `overflow`
    /// as the state shared by new keys once every slot is live (or in
    /// use).
    pub fn new(capacity: usize, overflow: V) -> Self {
        let capacity = capacity.max(1);
        let shard_count = Self::shard_count(capacity);
        let per_shard = capacity.div_ceil(shard_count);
        KeyedMap {
            shards: (0..shard_count)
                .map(|_| Shard {
                    table: RwLock::new(HashTable::with_capacity(per_shard.min(1024))),
                })
                .collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            capacity,
            overflow: Arc::new(Slot {
                value: overflow,
                last_used: AtomicU64::new(0),
            }),
            generation: AtomicU64::new(0),
            sweeping: Mutex::new(()),
            sweep_backoff: AtomicUsize::new(0),
            backoff_len: AtomicUsize::new(0),
            fruitless_at: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    fn shard_count(capacity: usize) -> usize {
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        // Enough shards that two threads rarely share one, few enough that
        // a tiny map is not mostly empty shards.
        (threads * 4)
            .next_power_of_two()
            .clamp(1, 64)
            .min(capacity.next_power_of_two())
    }

    fn shard(&self, hash: u64) -> &Shard<K, V> {
        // The table uses the low bits of the hash; the shard takes the high
        // ones so the two choices stay independent.
        let index = (hash >> 32) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }

    #[inline]
    fn touch(&self, slot: &Slot<V>) {
        let now = self.generation.load(Ordering::Relaxed);
        // Write only when it changes: a hot key read by every request must
        // not bounce its cache line between cores.
        if slot.last_used.load(Ordering::Relaxed) != now {
            slot.last_used.store(now, Ordering::Relaxed);
        }
    }

    /// The state for `key`, if the map holds it. Takes a shared lock on
    /// one shard and allocates nothing.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<KeyedEntry<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let table = self.shard(hash).read();
        let entry = table.find(hash, |entry| entry.key.borrow() == key)?;
        self.touch(&entry.slot);
        Some(KeyedEntry {
            slot: entry.slot.clone(),
            overflow: false,
        })
    }

    /// The state for `key`, inserting `make()` if absent. When the map is
    /// full, entries are evicted to make room — neutral ones first, then
    /// idle ones, least recently used first (see [`Retention`]); when none
    /// can be, the shared overflow entry is returned (see
    /// [`KeyedEntry::is_overflow`]) and `make` is not called: a flood of
    /// new keys against a map full of live state allocates nothing.
    ///
    /// [`Retention`]: super::Retention
    pub fn get_or_insert_with<Q>(&self, key: &Q, make: impl FnOnce() -> V) -> KeyedEntry<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        if let Some(entry) = shard.read().find(hash, |entry| entry.key.borrow() == key) {
            self.touch(&entry.slot);
            return KeyedEntry {
                slot: entry.slot.clone(),
                overflow: false,
            };
        }
        // Room first, state second: building a key's state can be costly
        // (a breaker's window), and a key that gets the overflow entry must
        // not pay for it. The reservation is given back if `make` panics.
        if !self.reserve() {
            return self.overflow_entry();
        }
        let reservation = Reservation { len: &self.len };
        let value = make();
        let mut table = shard.write();
        if let Some(entry) = table.find(hash, |entry| entry.key.borrow() == key) {
            // Another thread inserted it meanwhile: the reservation goes
            // back as `reservation` drops.
            return KeyedEntry {
                slot: entry.slot.clone(),
                overflow: false,
            };
        }
        // The key now holds the reserved room.
        std::mem::forget(reservation);
        let slot = Arc::new(Slot {
            value,
            last_used: AtomicU64::new(self.generation.load(Ordering::Relaxed)),
        });
        table.insert_unique(
            hash,
            Entry {
                key: key.to_owned(),
                hash,
                slot: slot.clone(),
            },
            |entry| entry.hash,
        );
        KeyedEntry {
            slot,
            overflow: false,
        }
    }

    /// Reserves room for one more key, sweeping if the map is full.
    fn reserve(&self) -> bool {
        if self.try_reserve() {
            return true;
        }
        self.sweep();
        self.try_reserve()
    }

    fn try_reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                (len < self.capacity).then_some(len + 1)
            })
            .is_ok()
    }

    fn overflow_entry(&self) -> KeyedEntry<V> {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        KeyedEntry {
            slot: self.overflow.clone(),
            overflow: true,
        }
    }

    /// Removes `key`, returning whether it was present.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let mut table = self.shard(hash).write();
        match table.find_entry(hash, |entry| entry.key.borrow() == key) {
            Ok(entry) => {
                entry.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the map may hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The state shared by keys that found the map full.
    pub fn overflow(&self) -> &V {
        &self.overflow.value
    }

    /// Counters for telemetry.
    pub fn stats(&self) -> KeyedStats {
        KeyedStats {
            len: self.len(),
            capacity: self.capacity,
            evicted: self.evicted.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }
}

/// Room reserved for one key, given back when dropped: by a `make` that
/// panics, or when another thread inserted the key first.
struct Reservation<'a> {
    len: &'a AtomicUsize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.len.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<K, V> fmt::Debug for KeyedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedMap")
            .field("len", &self.len.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .finish()
    }
}
