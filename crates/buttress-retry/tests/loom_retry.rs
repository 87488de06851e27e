//! Loom models of the retry budget's atomic core: a ring of packed slots
//! counting requests and retries, with time passed in as ticks.
//!
//! Run with `.ci/loom` (`RUSTFLAGS="--cfg buttress_loom"`, its own target
//! dir); without that cfg this file compiles to nothing. The core's own
//! source is compiled into this test crate, so the models reach its
//! crate-private API without widening it; `src/sync.rs` swaps its atomics
//! for loom's.
#![cfg(buttress_loom)]
#![allow(dead_code, unreachable_pub, missing_docs)]

#[path = "../src/budget/core.rs"]
mod budget_core;
#[path = "../src/sync.rs"]
mod sync;

use loom::sync::Arc;
use loom::thread;

use budget_core::BudgetCore;

/// Two threads withdraw twice each from a budget of one retry. Check and
/// take are not one atomic step, so they may both take one — the
/// documented overshoot of at most one per thread withdrawing at once —
/// but never more, and no withdrawal is lost from the window.
#[test]
fn concurrent_withdrawals_overdraw_by_at_most_the_racing_threads() {
    loom::model(|| {
        let budget = Arc::new(BudgetCore::new(2, 100, 0.0, 1));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let budget = budget.clone();
                thread::spawn(move || (0..2).filter(|_| budget.withdraw(5)).count() as u64)
            })
            .collect();
        let taken: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let window = budget.window(5);
        assert!(taken >= 1, "the reserve allows one retry");
        assert!(
            taken <= window.allowed + 1,
            "{taken} retries taken from a budget of {}",
            window.allowed
        );
        assert_eq!(window.retries, taken, "a withdrawal was lost");
    });
}

/// Deposits and withdrawals update the same packed slot word at once:
/// neither count is lost, and retries are earned only by requests.
#[test]
fn concurrent_deposits_and_withdrawals_keep_both_counts() {
    loom::model(|| {
        // Half a retry per request, no reserve: two requests earn one.
        let budget = Arc::new(BudgetCore::new(2, 100, 0.5, 0));
        let depositor = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.deposit(10);
                budget.deposit(10);
            })
        };
        let withdrawer = {
            let budget = budget.clone();
            thread::spawn(move || (0..2).filter(|_| budget.withdraw(10)).count() as u64)
        };
        depositor.join().unwrap();
        let taken = withdrawer.join().unwrap();
        let window = budget.window(10);
        assert_eq!(window.requests, 2, "a deposit was lost");
        assert_eq!(window.retries, taken, "a withdrawal was lost");
        assert!(taken <= 1, "{taken} retries earned by two requests at 50 %");
    });
}

/// Undated requests batched in `pending` are moved into the window by a
/// flush or by a withdrawal, racing each other: none is lost or counted
/// twice.
#[test]
fn batched_requests_are_counted_once_whoever_flushes() {
    loom::model(|| {
        let budget = Arc::new(BudgetCore::new(2, 100, 0.0, 1));
        let flusher = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.note();
                budget.flush(0);
            })
        };
        let withdrawer = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.note();
                budget.withdraw(0)
            })
        };
        flusher.join().unwrap();
        assert!(withdrawer.join().unwrap(), "the reserve allows one retry");
        budget.flush(0);
        let window = budget.window(0);
        assert_eq!(window.requests, 2);
        assert_eq!(window.retries, 1);
    });
}

/// A deposit in one slot and a withdrawal in the next (the window sliding
/// forward) race: the older slot's request stays counted while it is in
/// the window, and the retry lands in the new slot.
#[test]
fn a_deposit_and_a_withdrawal_across_a_slot_boundary_are_both_counted() {
    loom::model(|| {
        let budget = Arc::new(BudgetCore::new(2, 100, 0.0, 1));
        let depositor = {
            let budget = budget.clone();
            thread::spawn(move || budget.deposit(99))
        };
        let withdrawer = {
            let budget = budget.clone();
            thread::spawn(move || budget.withdraw(100))
        };
        depositor.join().unwrap();
        assert!(withdrawer.join().unwrap());
        let window = budget.window(150);
        assert_eq!((window.requests, window.retries), (1, 1));
        // Two slots later the first has left the window.
        let later = budget.window(250);
        assert_eq!((later.requests, later.retries), (0, 1));
    });
}
