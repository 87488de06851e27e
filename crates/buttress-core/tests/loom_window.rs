//! Loom models of core's sliding window (`buttress_core::window`), the
//! one behind the breaker's time window, the retry budget and the
//! throttle: records racing each other and the window's moves.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg buttress_loom"`, its own target
//! dir); without that cfg this file compiles to nothing. Under the cfg the
//! window's atomics are loom's, so the window works only inside
//! `loom::model`.
#![cfg(buttress_loom)]
#![allow(missing_docs)]

use buttress_core::window::SlidingWindow;
use loom::sync::Arc;
use loom::thread;

/// Two threads record into the same bucket, one through the same lane as
/// the main thread and one through another: every count of both words is
/// there, whoever found the bucket first.
#[test]
fn concurrent_records_in_one_bucket_are_all_counted() {
    loom::model(|| {
        let window = Arc::new(SlidingWindow::<2>::new(200, 2, 2));
        assert_eq!(window.lanes(), 2);
        let handles: Vec<_> = (0..2)
            .map(|lane| {
                let window = window.clone();
                thread::spawn(move || {
                    window.record(lane, 10, [1, lane as u64 + 1]);
                })
            })
            .collect();
        window.record(0, 20, [1, 0]);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(window.sum(20), [3, 3]);
        assert_eq!(window.newest(), Some(0));
    });
}

/// A record in the older bucket races the record that moves the window
/// to the next one: both are counted, each in its own bucket, and the
/// running totals agree with the buckets.
#[test]
fn a_record_racing_a_move_is_counted_once() {
    loom::model(|| {
        let window = Arc::new(SlidingWindow::<1>::with_totals(200, 2));
        window.record(0, 0, [1]);
        let late = {
            let window = window.clone();
            thread::spawn(move || window.record(0, 50, [1]))
        };
        let mover = {
            let window = window.clone();
            thread::spawn(move || window.record(0, 150, [1]))
        };
        assert!(!late.join().unwrap(), "the older bucket moves nothing");
        assert!(mover.join().unwrap(), "the newer bucket moves the window");
        assert_eq!(window.totals(), Some([3]));
        assert_eq!(window.sum(150), [3]);
        // One bucket later, only the newer bucket's record is left.
        assert_eq!(window.sum(250), [1]);
    });
}

/// A late record for bucket 0 races the move to bucket 2, which recycles
/// bucket 0's place in the ring: the late record is lost, dropped or
/// counted a span late, never twice, and the totals never fall below the
/// buckets (no counter wraps) — also as a concurrent reader sees them.
#[test]
fn a_record_racing_the_recycling_of_its_bucket_keeps_totals_equal_to_the_buckets() {
    loom::model(|| {
        let window = Arc::new(SlidingWindow::<1>::with_totals(200, 2));
        window.record(0, 0, [5]);
        let late = {
            let window = window.clone();
            thread::spawn(move || {
                window.record(0, 10, [1]);
            })
        };
        let mover = {
            let window = window.clone();
            thread::spawn(move || {
                window.record(0, 200, [1]);
            })
        };
        let [seen] = window.totals().unwrap();
        assert!(seen <= 7, "totals wrapped: {seen}");
        late.join().unwrap();
        mover.join().unwrap();
        let [totals] = window.totals().unwrap();
        assert_eq!([totals], window.sum(0), "totals and buckets disagree");
        assert!((1..=2).contains(&totals), "{totals}");
        assert_eq!(window.newest(), Some(2));
    });
}

/// Two threads move the window to different buckets at once, over
/// striped counters: the window ends at the newer bucket, and the bucket
/// both moves slid past is cleared in every lane.
#[test]
fn concurrent_moves_end_at_the_newest_bucket() {
    loom::model(|| {
        let window = Arc::new(SlidingWindow::<1>::new(200, 2, 2));
        window.record(0, 0, [1]);
        window.record(1, 0, [1]);
        let handles: Vec<_> = [100, 300]
            .into_iter()
            .map(|now| {
                let window = window.clone();
                thread::spawn(move || window.advance(now))
            })
            .collect();
        let moved: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(moved[1], "nothing else reaches bucket 3");
        assert_eq!(window.newest(), Some(3));
        assert_eq!(window.sum(0), [0], "bucket 0 left the window");
        window.record(1, 310, [1]);
        assert_eq!(window.sum(310), [1]);
    });
}
