//! The keyed map stays bounded and never gives up live state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use buttress_core::keyed::{KeyedMap, KeyedState};
use proptest::prelude::*;
use tokio::time::Instant;

/// A state that is live (say, an open breaker) until told otherwise.
#[derive(Default)]
struct State {
    live: AtomicBool,
}

impl State {
    fn live() -> Self {
        State {
            live: AtomicBool::new(true),
        }
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Relaxed);
    }
}

impl KeyedState for State {
    fn is_neutral(&self, _now: Instant) -> bool {
        !self.live.load(Ordering::Relaxed)
    }
}

#[test]
fn a_million_distinct_keys_stay_within_capacity() {
    let map: KeyedMap<u64, State> = KeyedMap::new(10_000, State::default());
    for key in 0..1_000_000u64 {
        let entry = map.get_or_insert_with(&key, State::default);
        assert!(!entry.is_overflow(), "neutral entries must make room");
        assert!(map.len() <= 10_000);
    }
    let stats = map.stats();
    assert!(stats.len <= 10_000 && stats.len > 0);
    assert_eq!(stats.evicted, 1_000_000 - stats.len as u64);
    // The most recent keys survive; the oldest went first.
    assert!(map.get(&999_999).is_some());
    assert!(map.get(&0).is_none());
}

#[test]
fn live_entries_are_never_evicted_while_neutral_ones_exist() {
    let map: KeyedMap<u64, State> = KeyedMap::new(1_000, State::default());
    let live_keys: Vec<u64> = (0..300).collect();
    for key in &live_keys {
        map.get_or_insert_with(key, State::live);
    }
    // The live keys are now the least recently used of all; a flood of
    // neutral keys must still go around them.
    for key in 1_000..200_000u64 {
        assert!(!map.get_or_insert_with(&key, State::default).is_overflow());
        assert!(map.len() <= 1_000);
    }
    for key in &live_keys {
        let entry = map.get(key).expect("live entry evicted");
        assert!(!entry.is_neutral(Instant::now()));
    }
    assert!(map.stats().evicted > 0);
}

#[test]
fn entries_in_use_are_not_evicted() {
    let map: KeyedMap<u64, State> = KeyedMap::new(100, State::default());
    let held = map.get_or_insert_with(&7, State::default);
    for key in 1_000..50_000u64 {
        map.get_or_insert_with(&key, State::default);
    }
    let again = map.get(&7).expect("a held entry was evicted");
    held.set_live(true);
    assert!(
        !again.is_neutral(Instant::now()),
        "the map must hand out the same state"
    );
}

#[test]
fn overflow_entry_takes_new_keys_when_all_are_live() {
    let map: KeyedMap<String, State> = KeyedMap::new(10, State::default());
    for key in 0..10 {
        assert!(
            !map.get_or_insert_with(&format!("tenant-{key}"), State::live)
                .is_overflow()
        );
    }
    let newcomer = map.get_or_insert_with("tenant-new", State::default);
    assert!(newcomer.is_overflow());
    assert_eq!(map.len(), 10);
    for key in 0..10 {
        assert!(map.get(format!("tenant-{key}").as_str()).is_some());
    }
    // Every overflowing key shares one state.
    newcomer.set_live(true);
    let other = map.get_or_insert_with("tenant-other", State::default);
    assert!(other.is_overflow());
    assert!(!other.is_neutral(Instant::now()));
    assert!(!map.overflow().is_neutral(Instant::now()));
    assert!(map.stats().overflowed >= 2);

    // Once a live entry turns neutral, a new key gets its own slot again
    // (after the short back-off that stops a flood rescanning the map).
    map.get("tenant-3").unwrap().set_live(false);
    let got_own_slot = (0..20).any(|_| {
        !map.get_or_insert_with("tenant-new", State::default)
            .is_overflow()
    });
    assert!(got_own_slot);
    assert!(map.get("tenant-3").is_none());
    assert_eq!(map.len(), 10);
}

#[test]
fn concurrent_inserts_respect_the_hard_capacity() {
    let map = Arc::new(KeyedMap::<u64, State>::new(500, State::default()));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let map = map.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u64 {
                    let key = (i * 2 + t) % 20_000;
                    let entry = map.get_or_insert_with(&key, State::default);
                    drop(entry);
                    assert!(map.len() <= 500);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(map.len() <= 500);
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8),
    SetLive(u8, bool),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..48).prop_map(Op::Insert),
        2 => (0u8..48, any::<bool>()).prop_map(|(k, live)| Op::SetLive(k, live)),
        1 => (0u8..48).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Against a model of which keys hold live state: the map never holds
    /// more than its capacity, never loses a live key, and hands out the
    /// overflow entry only when full.
    #[test]
    fn model_check(ops in proptest::collection::vec(op(), 1..400)) {
        let map: KeyedMap<u8, State> = KeyedMap::new(8, State::default());
        let mut live = std::collections::BTreeSet::new();
        for op in ops {
            match op {
                Op::Insert(k) => {
                    let entry = map.get_or_insert_with(&k, State::default);
                    if entry.is_overflow() {
                        prop_assert_eq!(map.len(), 8);
                    }
                }
                Op::SetLive(k, is_live) => {
                    if let Some(entry) = map.get(&k) {
                        entry.set_live(is_live);
                        if is_live { live.insert(k); } else { live.remove(&k); }
                    }
                }
                Op::Remove(k) => {
                    map.remove(&k);
                    live.remove(&k);
                }
            }
            prop_assert!(map.len() <= 8);
            for k in &live {
                prop_assert!(map.get(k).is_some(), "live key {} was evicted", k);
            }
        }
    }
}
