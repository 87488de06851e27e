//! Loom models of the permit counter, the atomic core every limiting
//! layer of this crate shares (bulkhead, adaptive limit).
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg buttress_loom"`, its own target
//! dir); without that cfg this file compiles to nothing. The counter's own
//! source is compiled into this test crate, so the models reach its
//! crate-private API without widening it; `src/permit/sync.rs` swaps its
//! atomics for loom's. The queue around it (`PermitPool`) takes a std
//! mutex and tokio timers, which loom cannot model: what the models check
//! is the counter's half of the hand-off protocol.
#![cfg(buttress_loom)]
#![allow(dead_code, unreachable_pub, missing_docs)]

#[path = "../src/permit/counter.rs"]
mod counter;
#[path = "../src/permit/sync.rs"]
mod sync;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use counter::PermitCounter;

/// Three callers acquire and release against a limit of two: the holders
/// never exceed the limit, and the counter ends at zero.
#[test]
fn concurrent_acquire_and_release_never_exceed_the_limit_and_end_at_zero() {
    loom::model(|| {
        let counter = Arc::new(PermitCounter::new(2));
        let holders = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (counter, holders) = (counter.clone(), holders.clone());
                thread::spawn(move || {
                    let acquired = if i == 0 {
                        counter.try_acquire()
                    } else {
                        counter.try_acquire_uncontended()
                    };
                    if acquired {
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 2, "{now} holders under a limit of 2");
                        holders.fetch_sub(1, Ordering::SeqCst);
                        counter.release();
                    }
                    acquired
                })
            })
            .collect();
        let got = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&acquired| acquired)
            .count();
        assert!(
            got >= 2,
            "with a limit of 2, at least two of three get a permit"
        );
        assert_eq!(counter.in_flight(), 0);
        assert_eq!(counter.waiting(), 0);
    });
}

/// The store-then-load hand-off: a caller about to queue (adds itself as
/// a waiter, then retries) and a holder releasing the only permit.
///
/// Under the C++ memory model the `SeqCst` total order rules out the
/// schedule where neither side sees the other's write (either the retry
/// finds the freed permit, or the releaser sees the waiter). loom cannot
/// prove that: it models `SeqCst` loads and stores as `AcqRel` (loom's
/// README, issue #180) and reports this store-buffering pattern as a lost
/// wake-up — see [`strict_release_handoff_under_loom`]. What loom does
/// prove, in every schedule it explores: nothing is lost from the count,
/// and in the schedule it flags, the permit sits free, so the waiter's
/// bounded wait (or the next release, or its own retry) takes it.
#[test]
fn a_release_racing_a_queuer_loses_no_permit() {
    loom::model(|| {
        let (retried, saw_waiter, counter) = release_race();
        if retried {
            assert_eq!(counter.in_flight(), 1);
            counter.release();
        } else {
            // Handed over by the releaser (or, in the flagged schedule,
            // free for the waiter's next try): either way it is there.
            let _ = saw_waiter;
            assert_eq!(counter.in_flight(), 0, "the freed permit is gone");
            assert!(counter.try_acquire());
            counter.remove_waiter();
            counter.release();
        }
        assert_eq!(counter.in_flight(), 0);
        assert_eq!(counter.waiting(), 0);
    });
}

/// The strict form of the hand-off property. Fails under loom (a false
/// alarm of its `SeqCst`-as-`AcqRel` model, see above); kept so that the
/// finding can be reproduced: `.ci/loom -- --ignored`.
#[test]
#[ignore = "loom models SeqCst as AcqRel (loom#180), a false alarm; run: .ci/loom -- --ignored"]
fn strict_release_handoff_under_loom() {
    loom::model(|| {
        let (retried, saw_waiter, _) = release_race();
        assert!(retried || saw_waiter, "a lost wake-up");
    });
}

fn release_race() -> (bool, bool, Arc<PermitCounter>) {
    let counter = Arc::new(PermitCounter::new(1));
    assert!(counter.try_acquire_uncontended());
    let queuer = {
        let counter = counter.clone();
        thread::spawn(move || {
            counter.add_waiter();
            let got = counter.try_acquire();
            if got {
                counter.remove_waiter();
            }
            got
        })
    };
    let releaser = {
        let counter = counter.clone();
        thread::spawn(move || counter.release())
    };
    let retried = queuer.join().unwrap();
    let saw_waiter = releaser.join().unwrap();
    (retried, saw_waiter, counter)
}

/// The limit grows (the adaptive limit raising it) while a caller queues.
/// As above, loom cannot prove that one side sees the other; here the
/// C++ model does not promise it either, since the queuer reads the limit
/// with `Relaxed` and may miss the new one. The cost is bounded: the
/// waiter waits out its patience or deadline, or the next release. What
/// must hold — and does in every schedule — is that the count never goes
/// past the limit the caller read, and that the room is still there.
#[test]
fn a_growing_limit_racing_a_queuer_keeps_the_room() {
    loom::model(|| {
        let counter = Arc::new(PermitCounter::new(1));
        assert!(counter.try_acquire_uncontended());

        let queuer = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.add_waiter();
                counter.try_acquire()
            })
        };
        let grower = {
            let counter = counter.clone();
            thread::spawn(move || counter.set_limit(2))
        };
        let retried = queuer.join().unwrap();
        let _saw_waiter = grower.join().unwrap();
        assert_eq!(counter.limit(), 2);
        if retried {
            assert_eq!(counter.in_flight(), 2);
        } else {
            assert_eq!(counter.in_flight(), 1);
            assert!(counter.try_acquire(), "the room the limit made is gone");
        }
        assert!(!counter.try_acquire(), "past the limit");
    });
}

/// The limit shrinks while permits are out (an adaptive limit cutting
/// back) and one comes back as a newcomer arrives. The limit is read with
/// `Relaxed`, so a newcomer racing the change may still be judged by the
/// old limit: never more than the old limit are out, and the count ends
/// at zero.
#[test]
fn a_shrinking_limit_is_overshot_by_no_more_than_the_old_limit() {
    loom::model(|| {
        let counter = Arc::new(PermitCounter::new(2));
        assert!(counter.try_acquire());
        assert!(counter.try_acquire());

        let shrinker = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.set_limit(1);
                counter.release();
            })
        };
        let newcomer = {
            let counter = counter.clone();
            thread::spawn(move || {
                let got = counter.try_acquire_uncontended();
                if got {
                    assert!(counter.in_flight() <= 2, "past the old limit");
                    counter.release();
                }
                got
            })
        };
        shrinker.join().unwrap();
        let _ = newcomer.join().unwrap();
        counter.release();
        assert_eq!(counter.in_flight(), 0);
    });
}
