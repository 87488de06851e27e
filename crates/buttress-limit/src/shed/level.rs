//! The atomic core of shedding: which priorities are shed now.
//!
//! The level `L` (0..=4) says how many priority classes, least important
//! first, are *gated*: a gated request is admitted only while the signal
//! reads relieved (below the low watermark), and shed otherwise. So at
//! `L = 1` sheddable work still fills whatever capacity the others leave
//! free, and at `L = 3` critical work is gated only because sheddable and
//! sheddable-plus already are: critical work is shed only when nothing
//! else is left.
//!
//! The level rises one class at a time — at once from 0, then at most one
//! step per `escalate_after` while the signal still reads overloaded — and
//! falls one class at a time, at the end of a `cooldown` period in which
//! at most `relax_ratio` of the highest gated class's requests had to be
//! shed. That exit rule is what keeps the state from flapping: shedding
//! removes the load that raised the signal, so "the signal is low again"
//! says nothing, while "most of that class got in anyway" says its demand
//! fits again and the spike is over.
//!
//! Std atomics only, time passed in as nanoseconds: no tokio, no lock, so
//! a loom model can exercise it alone.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The number of priority classes.
pub(crate) const CLASSES: usize = 4;

/// Level names for telemetry: what the level sheds up to.
pub(crate) const LEVEL_NAMES: [&str; CLASSES + 1] = [
    "none",
    "sheddable",
    "sheddable_plus",
    "critical",
    "critical_plus",
];

/// A level change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: u8,
    pub(crate) to: u8,
}

/// The shed level, when it last changed, and how the highest gated class
/// fared since the current cooldown period began.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ShedLevel {
    level: AtomicU8,
    changed_at: AtomicU64,
    /// When the current cooldown period began.
    period_start: AtomicU64,
    /// Requests of the highest gated class seen in the period...
    gated: AtomicU64,
    /// ...and how many of them were shed.
    shed: AtomicU64,
    /// Dwell and cooldown in nanoseconds; changeable while running.
    escalate_after: AtomicU64,
    cooldown: AtomicU64,
    /// The level falls when at most this share of the highest gated
    /// class was shed over a period, in 1/65536ths.
    relax_ratio: AtomicU64,
}

/// `relax_ratio` in 1/65536ths.
fn ratio(relax_ratio: f64) -> u64 {
    (relax_ratio.clamp(0.0, 1.0) * 65_536.0) as u64
}

impl ShedLevel {
    /// Level 0, with the given dwell and cooldown in nanoseconds, falling
    /// when at most `relax_ratio` of the highest gated class is shed.
    pub(crate) fn new(escalate_after: u64, cooldown: u64, relax_ratio: f64) -> Self {
        ShedLevel {
            level: AtomicU8::new(0),
            changed_at: AtomicU64::new(0),
            period_start: AtomicU64::new(0),
            gated: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            escalate_after: AtomicU64::new(escalate_after),
            cooldown: AtomicU64::new(cooldown),
            relax_ratio: AtomicU64::new(ratio(relax_ratio)),
        }
    }

    /// Takes a new dwell, cooldown and exit ratio, from the next decision
    /// on; the level and the current period stay.
    pub(crate) fn set(&self, escalate_after: u64, cooldown: u64, relax_ratio: f64) {
        self.escalate_after.store(escalate_after, Ordering::Relaxed);
        self.cooldown.store(cooldown, Ordering::Relaxed);
        self.relax_ratio
            .store(ratio(relax_ratio), Ordering::Relaxed);
    }

    /// The level now.
    #[inline]
    pub(crate) fn current(&self) -> u8 {
        self.level.load(Ordering::Acquire)
    }

    /// Records a request of class `rank` judged at `level`, and whether
    /// it was shed. Only the highest gated class counts towards relaxing.
    pub(crate) fn note(&self, level: u8, rank: u8, shed: bool) {
        if level > 0 && rank == level - 1 {
            self.gated.fetch_add(1, Ordering::Relaxed);
            if shed {
                self.shed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn changed(&self, now: u64) {
        self.changed_at.fetch_max(now, Ordering::AcqRel);
        self.period_start.fetch_max(now, Ordering::AcqRel);
        self.gated.store(0, Ordering::Relaxed);
        self.shed.store(0, Ordering::Relaxed);
    }

    /// Raises the level from `from` by one class, if nobody else changed
    /// it meanwhile and — above level 0 — the last change is at least
    /// `escalate_after` old. Returns the change if this caller made it.
    pub(crate) fn escalate(&self, from: u8, now: u64) -> Option<Change> {
        if usize::from(from) >= CLASSES {
            return None;
        }
        if from > 0 {
            let since = now.saturating_sub(self.changed_at.load(Ordering::Acquire));
            if since < self.escalate_after.load(Ordering::Relaxed) {
                return None;
            }
        }
        self.level
            .compare_exchange(from, from + 1, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.changed(now);
        Some(Change { from, to: from + 1 })
    }

    /// At the end of each cooldown period: lowers the level by one class
    /// if at most the relax ratio of the highest gated class's requests
    /// had to be shed in it. Returns the change if this caller made it.
    pub(crate) fn relax(&self, now: u64) -> Option<Change> {
        let level = self.current();
        if level == 0 {
            return None;
        }
        let start = self.period_start.load(Ordering::Acquire);
        if now.saturating_sub(start) < self.cooldown.load(Ordering::Relaxed) {
            return None;
        }
        self.period_start
            .compare_exchange(start, now, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let gated = self.gated.swap(0, Ordering::Relaxed);
        let shed = self.shed.swap(0, Ordering::Relaxed);
        if u128::from(shed) * 65_536
            > u128::from(gated) * u128::from(self.relax_ratio.load(Ordering::Relaxed))
        {
            return None;
        }
        self.level
            .compare_exchange(level, level - 1, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.changed(now);
        Some(Change {
            from: level,
            to: level - 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rises_at_once_from_zero_then_one_class_per_dwell() {
        let level = ShedLevel::new(100 * MS, 1_000 * MS, 0.5);
        assert_eq!(level.escalate(0, 5 * MS), Some(Change { from: 0, to: 1 }));
        assert_eq!(level.escalate(1, 50 * MS), None, "inside the dwell");
        assert_eq!(level.escalate(0, 50 * MS), None, "a stale level");
        assert_eq!(level.escalate(1, 105 * MS), Some(Change { from: 1, to: 2 }));
        assert_eq!(level.current(), 2);
    }

    #[test]
    fn never_rises_past_every_class() {
        let level = ShedLevel::new(0, 1_000 * MS, 0.5);
        for from in 0..4 {
            assert!(level.escalate(from, MS).is_some());
        }
        assert_eq!(level.escalate(4, 2 * MS), None);
        assert_eq!(level.current(), 4);
    }

    #[test]
    fn holds_while_most_of_the_gated_class_is_shed() {
        let level = ShedLevel::new(0, 1_000 * MS, 0.5);
        level.escalate(0, 0);
        for i in 0..10 {
            level.note(1, 0, i < 6);
            level.note(1, 2, false); // other classes do not count
        }
        assert_eq!(level.relax(500 * MS), None, "inside the period");
        assert_eq!(level.relax(1_000 * MS), None, "60 % shed");
        for i in 0..10 {
            level.note(1, 0, i < 5);
        }
        assert_eq!(level.relax(1_500 * MS), None, "a new period");
        assert_eq!(level.relax(2_000 * MS), Some(Change { from: 1, to: 0 }));
        assert_eq!(level.relax(9_000 * MS), None);
    }

    #[test]
    fn falls_one_class_per_cooldown() {
        let level = ShedLevel::new(0, 1_000 * MS, 0.0);
        level.escalate(0, 0);
        level.escalate(1, 0);
        assert_eq!(level.relax(1_000 * MS), Some(Change { from: 2, to: 1 }));
        assert_eq!(level.relax(1_500 * MS), None);
        level.note(1, 0, true);
        assert_eq!(level.relax(2_000 * MS), None, "one shed of one");
        assert_eq!(level.relax(3_000 * MS), Some(Change { from: 1, to: 0 }));
    }
}
