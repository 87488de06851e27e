//! The queue of waiting callers: a doubly linked list threaded through a
//! slab, so that pushing, popping from either end and removing a waiter
//! that gave up are all O(1), and slots are reused instead of allocated.
//!
//! Plain data, no synchronisation: it lives behind the pool's queue lock,
//! which only the queueing path takes.

use std::task::Waker;

const NIL: usize = usize::MAX;

/// Which waiter gets the next free permit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrder {
    /// First come, first served: fair, and the usual choice.
    #[default]
    Fifo,
    /// Newest first. Under sustained overload the oldest waiters are the
    /// ones most likely to have been given up on by their callers; serving
    /// the newest keeps the latency of what is admitted low, and lets the
    /// old ones time out.
    Lifo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Unused, on the free list.
    Free,
    /// Linked in the queue.
    Waiting,
    /// Handed a permit and unlinked; the waiter has not collected it yet.
    Granted,
}

#[derive(Debug)]
struct Node {
    prev: usize,
    next: usize,
    state: SlotState,
    waker: Option<Waker>,
}

/// Waiters in arrival order, with their wakers.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    nodes: Vec<Node>,
    head: usize,
    tail: usize,
    free: usize,
    len: usize,
}

impl WaitList {
    pub(crate) const fn new() -> Self {
        WaitList {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    /// Waiters linked now (not counting granted, uncollected ones).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends a waiter and returns its slot.
    pub(crate) fn push_back(&mut self) -> usize {
        let index = if self.free != NIL {
            let index = self.free;
            self.free = self.nodes[index].next;
            index
        } else {
            self.nodes.push(Node {
                prev: NIL,
                next: NIL,
                state: SlotState::Free,
                waker: None,
            });
            self.nodes.len() - 1
        };
        let node = &mut self.nodes[index];
        node.prev = self.tail;
        node.next = NIL;
        node.state = SlotState::Waiting;
        node.waker = None;
        if self.tail != NIL {
            self.nodes[self.tail].next = index;
        } else {
            self.head = index;
        }
        self.tail = index;
        self.len += 1;
        index
    }

    /// The waiter that would be served next, if any.
    pub(crate) fn peek(&self, order: QueueOrder) -> Option<usize> {
        let index = match order {
            QueueOrder::Fifo => self.head,
            QueueOrder::Lifo => self.tail,
        };
        (index != NIL).then_some(index)
    }

    /// Unlinks the next waiter, marks it granted and returns its waker.
    pub(crate) fn grant_next(&mut self, order: QueueOrder) -> Option<Option<Waker>> {
        let index = self.peek(order)?;
        self.unlink(index);
        let node = &mut self.nodes[index];
        node.state = SlotState::Granted;
        Some(node.waker.take())
    }

    /// The state of a waiter's slot.
    pub(crate) fn state(&self, index: usize) -> SlotState {
        self.nodes[index].state
    }

    /// Stores the waker to call when the waiter is granted.
    pub(crate) fn set_waker(&mut self, index: usize, waker: &Waker) {
        let slot = &mut self.nodes[index].waker;
        match slot {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Releases a slot: unlinks it if it still waits, then frees it.
    /// Returns the state it was in.
    pub(crate) fn release(&mut self, index: usize) -> SlotState {
        let state = self.nodes[index].state;
        match state {
            SlotState::Waiting => self.unlink(index),
            SlotState::Granted => {}
            SlotState::Free => panic!("slot released twice"),
        }
        let node = &mut self.nodes[index];
        node.state = SlotState::Free;
        node.waker = None;
        node.next = self.free;
        self.free = index;
        state
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.nodes[index].prev, self.nodes[index].next);
        if prev != NIL {
            self.nodes[prev].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.nodes[next].prev = prev;
        } else {
            self.tail = prev;
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn fifo_serves_oldest_lifo_newest() {
        let mut list = WaitList::new();
        let a = list.push_back();
        let b = list.push_back();
        let c = list.push_back();
        assert_eq!(list.peek(QueueOrder::Fifo), Some(a));
        assert_eq!(list.peek(QueueOrder::Lifo), Some(c));
        list.grant_next(QueueOrder::Lifo);
        assert_eq!(list.state(c), SlotState::Granted);
        list.release(b);
        assert_eq!(list.peek(QueueOrder::Lifo), Some(a));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn slots_are_reused() {
        let mut list = WaitList::new();
        let a = list.push_back();
        list.release(a);
        let b = list.push_back();
        assert_eq!(a, b);
        assert_eq!(list.nodes.len(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Grant(bool),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Push),
            any::<bool>().prop_map(Op::Grant),
            (0usize..64).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The list behaves like a `VecDeque` model of waiting slots.
        #[test]
        fn matches_a_deque_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut list = WaitList::new();
            let mut model: VecDeque<usize> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push => model.push_back(list.push_back()),
                    Op::Grant(lifo) => {
                        let order = if lifo { QueueOrder::Lifo } else { QueueOrder::Fifo };
                        let expected = if lifo { model.pop_back() } else { model.pop_front() };
                        let peeked = list.peek(order);
                        prop_assert_eq!(peeked, expected);
                        if let Some(index) = expected {
                            list.grant_next(order);
                            prop_assert_eq!(list.state(index), SlotState::Granted);
                            prop_assert_eq!(list.release(index), SlotState::Granted);
                        }
                    }
                    Op::Remove(pick) => {
                        if !model.is_empty() {
                            let index = model.remove(pick % model.len()).unwrap();
                            prop_assert_eq!(list.release(index), SlotState::Waiting);
                        }
                    }
                }
                prop_assert_eq!(list.len(), model.len());
            }
        }
    }
}
