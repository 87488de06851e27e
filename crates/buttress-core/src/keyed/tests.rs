//! The map's eviction order, its overflow path and its sweep back-off.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::sweep::SWEEP_AFTER;
use super::{KeyedMap, KeyedState, Retention};

/// A state whose retention the test sets.
struct Held(AtomicU8);

impl Held {
    fn new(retention: Retention) -> Self {
        let held = Held(AtomicU8::new(0));
        held.set(retention);
        held
    }

    fn set(&self, retention: Retention) {
        self.0.store(retention as u8, Ordering::Relaxed);
    }
}

impl KeyedState for Held {
    fn is_neutral(&self, now: Instant) -> bool {
        self.retention(now) == Retention::Neutral
    }

    fn retention(&self, _now: Instant) -> Retention {
        match self.0.load(Ordering::Relaxed) {
            0 => Retention::Neutral,
            1 => Retention::Idle,
            _ => Retention::Live,
        }
    }
}

fn fill(map: &KeyedMap<u32, Held>, keys: std::ops::Range<u32>, retention: Retention) {
    for key in keys {
        assert!(
            !map.get_or_insert_with(&key, || Held::new(retention))
                .is_overflow()
        );
    }
}

#[test]
fn neutral_entries_go_before_idle_ones_and_live_ones_never() {
    let map = KeyedMap::new(16, Held::new(Retention::Live));
    // The idle and live entries are the least recently used of all.
    fill(&map, 0..4, Retention::Idle);
    fill(&map, 4..8, Retention::Live);
    fill(&map, 8..16, Retention::Neutral);
    // Eight new (neutral) keys: the eight neutral entries make room.
    fill(&map, 100..108, Retention::Neutral);
    for key in 0..8 {
        assert!(
            map.get(&key).is_some(),
            "key {key} went before a neutral one"
        );
    }
    // Twelve live keys: the eight neutral entries, then the four idle ones
    // make room; never the live ones, so a thirteenth overflows.
    fill(&map, 200..212, Retention::Live);
    for key in 0..4 {
        assert!(map.get(&key).is_none(), "idle key {key} stayed");
    }
    for key in 4..8 {
        assert!(map.get(&key).is_some(), "live key {key} was evicted");
    }
    assert!(
        map.get_or_insert_with(&300, || Held::new(Retention::Live))
            .is_overflow()
    );
    assert_eq!(map.len(), 16);
}

#[test]
fn idle_entries_in_use_stay() {
    let map = KeyedMap::new(4, Held::new(Retention::Live));
    fill(&map, 0..4, Retention::Idle);
    let held: Vec<_> = (0..4).map(|key| map.get(&key).unwrap()).collect();
    assert!(
        map.get_or_insert_with(&9, || Held::new(Retention::Neutral))
            .is_overflow()
    );
    drop(held);
    // The back-off of that fruitless sweep: at most a batch of one.
    let own = (0..2).any(|_| {
        !map.get_or_insert_with(&9, || Held::new(Retention::Neutral))
            .is_overflow()
    });
    assert!(own);
}

#[test]
fn a_key_that_overflows_builds_no_state() {
    let map = KeyedMap::new(8, Held::new(Retention::Live));
    fill(&map, 0..8, Retention::Live);
    let built = AtomicUsize::new(0);
    for key in 100..10_100 {
        let entry = map.get_or_insert_with(&key, || {
            built.fetch_add(1, Ordering::Relaxed);
            Held::new(Retention::Neutral)
        });
        assert!(entry.is_overflow());
    }
    assert_eq!(built.load(Ordering::Relaxed), 0);
    assert_eq!(map.stats().overflowed, 10_000);
}

#[test]
fn a_panicking_make_gives_its_room_back() {
    let map = KeyedMap::new(2, Held::new(Retention::Live));
    fill(&map, 0..1, Retention::Live);
    for _ in 0..3 {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.get_or_insert_with(&7, || panic!("no state for you"));
        }));
        assert!(result.is_err());
        assert_eq!(map.len(), 1);
    }
    fill(&map, 1..2, Retention::Live);
    assert_eq!(map.len(), 2);
}

#[test]
fn fruitless_sweeps_back_off_longer_up_to_the_capacity() {
    let map = KeyedMap::new(64, Held::new(Retention::Live));
    fill(&map, 0..64, Retention::Live);
    let mut lengths = Vec::new();
    for key in 1_000..1_400 {
        map.get_or_insert_with(&key, || Held::new(Retention::Neutral));
        let length = map.backoff_len.load(Ordering::Relaxed);
        if lengths.last() != Some(&length) {
            lengths.push(length);
        }
    }
    // A batch of 8, doubled by each fruitless sweep in a row, at most 64.
    assert_eq!(lengths, [8, 16, 32, 64]);
    // A sweep that evicts starts over.
    map.get(&0).unwrap().set(Retention::Neutral);
    let own = (0..200).any(|_| {
        !map.get_or_insert_with(&5_000, || Held::new(Retention::Live))
            .is_overflow()
    });
    assert!(own);
    assert_eq!(map.backoff_len.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn the_back_off_lapses_with_time() {
    let map = KeyedMap::new(64, Held::new(Retention::Live));
    fill(&map, 0..64, Retention::Live);
    for key in 1_000..1_100 {
        map.get_or_insert_with(&key, || Held::new(Retention::Neutral));
    }
    assert!(map.sweep_backoff.load(Ordering::Relaxed) > 1);
    // An entry turns evictable; calls left in the back-off or not, the
    // first new key once the back-off has lapsed finds it.
    map.get(&3).unwrap().set(Retention::Idle);
    assert!(
        map.get_or_insert_with(&2_000, || Held::new(Retention::Neutral))
            .is_overflow()
    );
    tokio::time::advance(SWEEP_AFTER + Duration::from_millis(1)).await;
    assert!(
        !map.get_or_insert_with(&2_000, || Held::new(Retention::Neutral))
            .is_overflow()
    );
    assert!(map.get(&3).is_none());
}
