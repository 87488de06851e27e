//! The window's behaviour with std atomics; `tests/loom_window.rs` checks
//! its races under loom.

use std::sync::Arc;

use super::*;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

#[test]
fn rolls_one_bucket_at_a_time() {
    // Ten buckets of 100 ticks: a 1,000-tick window.
    let window = SlidingWindow::<2>::new(1_000, 10, 1);
    for _ in 0..50 {
        window.record(0, 0, [1, 0]);
    }
    for _ in 0..30 {
        window.record(0, 500, [1, 1]);
    }
    assert_eq!(window.sum(999), [80, 30]);
    // Bucket 0 (ticks 0..100) leaves the window when bucket 10 begins.
    assert_eq!(window.sum(1_000), [30, 30]);
    assert_eq!(window.sum(1_499), [30, 30]);
    assert_eq!(window.sum(1_500), [0, 0]);
    // Reading cleared nothing: the window still ends at bucket 5, and a
    // late record for bucket 1 counts beside bucket 0's.
    assert_eq!(window.newest(), Some(5));
    window.record(0, 100, [1, 0]);
    assert_eq!(window.sum(500), [81, 30]);
}

#[test]
fn expires_everything_after_the_span() {
    // 10 s in 10 buckets of 1 s, two lanes.
    let window = SlidingWindow::<3>::new(10 * SEC, 10, 2);
    window.record(0, 0, [1, 1, 0]);
    window.record(1, 500 * MS, [1, 1, 1]);
    window.record(0, 3 * SEC, [1, 0, 0]);
    assert_eq!(window.sum(3 * SEC), [3, 2, 1]);
    // At 10.0 s the first bucket (0..1 s) has left the window.
    assert_eq!(window.sum(10 * SEC), [1, 0, 0]);
    assert_eq!(window.sum(13 * SEC), [0, 0, 0]);
    // A record a span later recycles every bucket it passes.
    window.record(1, 13 * SEC, [1, 0, 0]);
    assert_eq!(window.sum(13 * SEC), [1, 0, 0]);
    assert_eq!(
        window.sum(0),
        [1, 0, 0],
        "an earlier reader sees the newest window"
    );
}

#[test]
fn a_long_silence_clears_everything_once() {
    let window = SlidingWindow::<1>::with_totals(4 * SEC, 4);
    for t in 0..4 {
        window.record(0, t * SEC, [3]);
    }
    assert_eq!(window.totals(), Some([12]));
    assert!(window.advance(1_000 * SEC));
    assert!(!window.advance(1_000 * SEC));
    assert!(!window.advance(999 * SEC), "never backwards");
    assert_eq!(window.totals(), Some([0]));
    assert_eq!(window.sum(1_000 * SEC), [0]);
}

#[test]
fn running_totals_follow_the_buckets() {
    let window = SlidingWindow::<2>::with_totals(4 * SEC, 4);
    window.record(0, 0, [5, 0]);
    assert!(!window.record(0, SEC / 2, [1, 1]), "same bucket: not moved");
    assert!(window.record(0, SEC, [2, 2]), "the next bucket: moved");
    assert_eq!(window.totals(), Some([8, 3]));
    window.advance(4 * SEC);
    assert_eq!(window.totals(), Some([2, 2]), "bucket 0 expired");
    window.advance(5 * SEC);
    assert_eq!(window.totals(), Some([0, 0]));
    assert_eq!(SlidingWindow::<2>::new(SEC, 4, 1).totals(), None);
}

#[test]
fn a_recycled_bucket_is_cleared_first() {
    let window = SlidingWindow::<1>::new(4 * MS, 4, 1);
    window.record(0, 0, [1]);
    // The same bucket of the ring, four buckets later.
    let slot = window.slot(0, 4 * MS).unwrap();
    assert!(slot.moved());
    assert_eq!(slot.add(0, 1), 0, "the old count is gone");
    assert_eq!(slot.get(0), 1);
    assert_eq!(window.sum(4 * MS), [1]);
}

#[test]
fn an_earlier_clock_reading_counts_in_its_own_bucket() {
    let window = SlidingWindow::<1>::new(10 * MS, 10, 1);
    window.record(0, 5 * MS, [1]);
    // A thread that read the clock a moment earlier, in the bucket
    // before: counted there, and the newest bucket stays the later.
    assert!(!window.record(0, 5 * MS - 1, [1]));
    assert_eq!(window.newest(), Some(5));
    assert_eq!(window.sum(5 * MS), [2]);
    // Ten buckets after the first, the earlier bucket has left.
    assert_eq!(window.sum(14 * MS), [1]);
    assert_eq!(window.sum(15 * MS), [0]);
    // A reading older than the whole window is dropped.
    window.record(0, 20 * MS, [1]);
    assert!(window.slot(0, 10 * MS).is_none());
    assert!(!window.record(0, 10 * MS, [1]));
    assert_eq!(window.sum(20 * MS), [1]);
}

#[test]
fn an_idle_gap_of_any_length_does_not_alias() {
    let window = SlidingWindow::<1>::new(10, 10, 1);
    for _ in 0..1_000 {
        window.record(0, 3, [1]);
    }
    // 65,536 buckets later bucket 3's index comes round again.
    let later = 3 + (1 << 16);
    assert_eq!(window.sum(later), [0]);
    window.record(0, later, [1]);
    assert_eq!(window.sum(later), [1]);
}

#[test]
fn lanes_are_summed_and_masked() {
    let window = SlidingWindow::<2>::new(SEC, 10, 4);
    assert_eq!(window.lanes(), 4);
    for lane in 0..8 {
        window.record(lane, 0, [1, lane as u64]);
    }
    assert_eq!(window.sum(0), [8, 28]);
    window.reset();
    assert_eq!(window.sum(0), [0, 0]);
    assert_eq!(window.newest(), Some(0), "reset keeps the time");
    window.record(3, 0, [1, 0]);
    assert_eq!(window.sum(0), [1, 0]);
}

#[test]
fn lanes_take_only_the_memory_they_fit_in() {
    // The breaker's shapes: two counters per bucket, 16 lanes asked.
    let few = SlidingWindow::<2>::new(10 * SEC, 10, 16);
    assert_eq!(few.lanes(), 16);
    assert!(few.memory() <= 4 * 1024, "{}", few.memory());
    let hundred = SlidingWindow::<2>::new(10 * SEC, 100, 16);
    assert_eq!(hundred.lanes(), 8);
    assert!(hundred.memory() <= MAX_BYTES, "{}", hundred.memory());
    let many = SlidingWindow::<2>::new(60 * SEC, 1_000, 16);
    assert_eq!(many.lanes(), 1);
    assert_eq!(many.buckets(), 1_000);
    assert!(many.memory() <= MAX_BYTES, "{}", many.memory());
    // One lane's counters, and no padding between rows.
    assert!(many.memory() < 16_000 + 128, "{}", many.memory());
    // More than one lane needs: the one lane it needs.
    let wide = SlidingWindow::<8>::new(60 * SEC, 4_096, 16);
    assert_eq!(wide.lanes(), 1);
    assert!(wide.memory() >= 4_096 * 8 * 8);
    // Out-of-range shapes are clamped, not refused.
    let odd = SlidingWindow::<1>::new(0, 0, 0);
    assert_eq!((odd.buckets(), odd.lanes(), odd.width()), (1, 1, 1));
    let clamped = SlidingWindow::<1>::new(u64::MAX, 100_000, 1_000);
    assert_eq!(clamped.buckets(), MAX_BUCKETS);
    assert!(clamped.lanes() <= MAX_LANES);
    assert_eq!(
        SlidingWindow::<1>::new(10 * SEC, 3, 1).span(),
        9_999_999_999
    );
}

#[test]
fn the_end_of_time_does_not_panic() {
    let window = SlidingWindow::<1>::new(4, 4, 1);
    window.record(0, u64::MAX, [1]);
    window.record(0, u64::MAX - 1, [1]);
    assert_eq!(window.newest(), Some(MAX_BUCKET));
    assert_eq!(window.sum(u64::MAX), [2]);
}

#[test]
fn concurrent_records_in_one_bucket_are_all_counted() {
    let window = Arc::new(SlidingWindow::<2>::new(SEC, 10, 4));
    let threads: Vec<_> = (0..4usize)
        .map(|lane| {
            let window = window.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    // All in the first 100 ms bucket, lanes shared by two.
                    window.record(lane / 2, i % (100 * MS), [1, i % 2]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(window.sum(0), [40_000, 20_000]);
}

#[test]
fn concurrent_records_across_buckets_keep_totals_equal_to_the_buckets() {
    let window = Arc::new(SlidingWindow::<1>::with_totals(8_000, 8));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let window = window.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    window.record(0, i * 7 + t, [(1 << 32) | (i % 2)]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let totals = window.totals().unwrap();
    assert_eq!(totals, window.sum(0));
    // The last stretch of the run, wherever the races put a few calls.
    assert!(totals[0] >> 32 > 0 && totals[0] >> 32 <= 80_000);
}

#[test]
fn debug_shows_the_shape() {
    let window = SlidingWindow::<1>::new(SEC, 10, 2);
    window.record(0, 0, [1]);
    let text = format!("{window:?}");
    assert!(
        text.contains("buckets: 10") && text.contains("lanes: 2"),
        "{text}"
    );
}

#[test]
fn recording_moving_and_reading_allocate_nothing() {
    let striped = SlidingWindow::<2>::new(10 * SEC, 10, 4);
    let totalled = SlidingWindow::<1>::with_totals(10 * SEC, 10);
    let count = allocation_counter::measure(|| {
        for i in 0..10_000u64 {
            let now = i * 7 * MS;
            striped.record(i as usize, now, [1, i % 2]);
            totalled.record(0, now, [1]);
            if i % 100 == 0 {
                assert!(striped.sum(now)[0] > 0);
                assert!(totalled.totals().unwrap()[0] > 0);
            }
        }
        striped.reset();
    })
    .count_total;
    assert_eq!(count, 0);
}
