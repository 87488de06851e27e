//! The time window: the last T, in buckets, over core's
//! [`SlidingWindow`], in one of two layouts.
//!
//! **Wide** (every single breaker, and a per-key breaker of up to
//! [`PER_KEY_WIDE_BUCKETS`] buckets): each bucket counts calls in one word
//! and failures and slow calls in a second, packed (failures in the high
//! 32 bits, slow calls in the low 32): 16 bytes per bucket per lane. A
//! single breaker stripes it over lanes: a 10-bucket window keeps one
//! lane per thread group (about two per core, up to 16) in about 3 KiB,
//! and a 1,000-bucket window — a lane of 16,000 bytes — has one lane and
//! stays within 16 KiB in all (see [`SlidingWindow::memory`]). A packed
//! field saturates rather than wrapping into its neighbour: once a
//! bucket's lane holds 2^31 failures (or slow calls), further ones are
//! not added to it (its calls still are).
//!
//! **Packed** (a per-key breaker of more buckets): calls, failures and
//! slow calls in one word of three 21-bit fields, 8 bytes per bucket, one
//! lane — so a per-key window of 1,000 buckets takes 8,000 bytes, and a
//! keyed breaker's windows at most [`PER_KEY_MAX_BYTES`] each. A bucket
//! counts at most [`PACKED_BUCKET_CALLS`] (about two million) calls; past
//! that it keeps what it has — its rates are those of its first two
//! million calls — and the calls of the rest of its span are not counted.
//! With more than 512 buckets over at most a day, a bucket spans under
//! 169 s, so that takes over 12,000 calls a second to one key for the
//! whole span.
//!
//! Per-key windows are not striped: a keyed breaker holds up to
//! `max_keys` of them, and its call path shares the key map's lock and
//! entry count per call anyway.
//!
//! The core window finds the bucket without a division, recycles old
//! buckets without a timer or a scan, and sums lanes and buckets on a
//! read. Judging the rates needs that sum (a fixed cost). It is skipped
//! while no failure or slow call is in the window — a healthy window
//! cannot trip — which one shared, read-mostly timestamp tells; the sum
//! is taken only while the dependency shows trouble. The same timestamp
//! tells a keyed map, in a few loads, whether the window is quiet.

use buttress_core::window::SlidingWindow;

use crate::sync::{AtomicU64, Ordering};

use super::Totals;

/// The most buckets a time window may have.
pub(crate) const MAX_BUCKETS: u32 = 1_000;

/// The most buckets a per-key window keeps in the wide layout (16 bytes a
/// bucket); more are packed (8 bytes a bucket).
pub(crate) const PER_KEY_WIDE_BUCKETS: u32 = 512;

/// The most bytes of counters a per-key time window takes: 512 wide
/// buckets, or 1,000 packed ones (8,000 bytes).
pub(crate) const PER_KEY_MAX_BYTES: usize = 16 * PER_KEY_WIDE_BUCKETS as usize;

/// The counter words of a wide bucket.
const CALLS: usize = 0;
const BAD: usize = 1;
/// One failure and one slow call in the [`BAD`] word.
const FAILURE: u64 = 1 << 32;
const SLOW: u64 = 1;
const FIELD: u64 = u32::MAX as u64;
/// A bucket's lane takes no more failures (slow calls) past this many:
/// far below the field's range, whatever adders race past the check.
const SATURATED: u64 = 1 << 31;

/// The fields of a packed bucket: calls in the low 21 bits, failures in
/// the next 21, slow calls in the 21 above.
const PACKED_BITS: u32 = 21;
const PACKED_FIELD: u64 = (1 << PACKED_BITS) - 1;
const PACKED_CALL: u64 = 1;
const PACKED_FAILURE: u64 = 1 << PACKED_BITS;
const PACKED_SLOW: u64 = 1 << (2 * PACKED_BITS);
/// A packed bucket takes no call past this many, so that adders racing
/// past the check (one call each) cannot carry into the failures; the
/// failures and slow calls, never more than the calls, cannot either.
pub(crate) const PACKED_BUCKET_CALLS: u64 = PACKED_FIELD - (1 << 12);

#[derive(Debug)]
enum Counts {
    /// Calls, and failures and slow calls packed, in two words a bucket.
    Wide(SlidingWindow<2>),
    /// All three in one word a bucket, for long per-key windows.
    Packed(SlidingWindow<1>),
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    counts: Counts,
    /// When the latest failure or slow call was recorded, plus one
    /// (0: none since the last reset).
    last_bad: AtomicU64,
}

impl TimeWindow {
    /// A window over `span` nanoseconds in `buckets` buckets, striped over
    /// up to `lanes` lanes (as many as fit in 16 KiB): a single breaker's.
    pub(crate) fn new(span: u64, buckets: u32, lanes: usize) -> Self {
        TimeWindow {
            counts: Counts::Wide(SlidingWindow::new(
                span,
                buckets.clamp(1, MAX_BUCKETS),
                lanes,
            )),
            last_bad: AtomicU64::new(0),
        }
    }

    /// A per-key breaker's window: one lane, wide up to
    /// [`PER_KEY_WIDE_BUCKETS`] buckets and packed past them, so that it
    /// takes at most [`PER_KEY_MAX_BYTES`] of counters.
    pub(crate) fn per_key(span: u64, buckets: u32) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let counts = if buckets <= PER_KEY_WIDE_BUCKETS {
            Counts::Wide(SlidingWindow::new(span, buckets, 1))
        } else {
            Counts::Packed(SlidingWindow::new(span, buckets, 1))
        };
        TimeWindow {
            counts,
            last_bad: AtomicU64::new(0),
        }
    }

    /// The bytes of counters a per-key window of `buckets` buckets takes.
    pub(crate) const fn per_key_bytes(buckets: u32) -> usize {
        let buckets = if buckets > MAX_BUCKETS {
            MAX_BUCKETS
        } else {
            buckets
        } as usize;
        if buckets <= PER_KEY_WIDE_BUCKETS as usize {
            16 * buckets
        } else {
            8 * buckets
        }
    }

    #[inline]
    pub(crate) fn record(&self, lane: usize, now: u64, failed: bool, slow: bool) -> Option<Totals> {
        match &self.counts {
            Counts::Wide(counts) => {
                if let Some(slot) = counts.slot(lane, now) {
                    slot.add(CALLS, 1);
                    if failed || slow {
                        let held = slot.get(BAD);
                        let mut bad = 0;
                        if failed && held >> 32 < SATURATED {
                            bad |= FAILURE;
                        }
                        if slow && held & FIELD < SATURATED {
                            bad |= SLOW;
                        }
                        if bad != 0 {
                            slot.add(BAD, bad);
                        }
                    }
                }
            }
            Counts::Packed(counts) => {
                if let Some(slot) = counts.slot(lane, now)
                    && slot.get(0) & PACKED_FIELD < PACKED_BUCKET_CALLS
                {
                    let code = PACKED_CALL
                        | (u64::from(failed) * PACKED_FAILURE)
                        | (u64::from(slow) * PACKED_SLOW);
                    slot.add(0, code);
                }
            }
        }
        if failed || slow {
            self.last_bad.fetch_max(now + 1, Ordering::AcqRel);
        }
        if self.is_quiet(now) {
            return None;
        }
        Some(self.totals(now))
    }

    /// Whether no failure or slow call was recorded within the last span
    /// before `now`: then the window holds none, and cannot trip. A few
    /// loads, whatever the bucket count.
    #[inline]
    pub(crate) fn is_quiet(&self, now: u64) -> bool {
        let last_bad = self.last_bad.load(Ordering::Acquire);
        last_bad == 0 || (now + 1).saturating_sub(last_bad) >= self.span()
    }

    fn span(&self) -> u64 {
        match &self.counts {
            Counts::Wide(counts) => counts.span(),
            Counts::Packed(counts) => counts.span(),
        }
    }

    pub(crate) fn totals(&self, now: u64) -> Totals {
        let (calls, failures, slow) = match &self.counts {
            // Each bucket's packed word is split before it is summed: a
            // window's slow calls may pass 2^32 where a bucket's cannot.
            Counts::Wide(counts) => counts.fold(now, (0, 0, 0), |(c, f, s), bucket| {
                let bad = bucket.get(BAD);
                (c + bucket.get(CALLS), f + (bad >> 32), s + (bad & FIELD))
            }),
            Counts::Packed(counts) => counts.fold(now, (0, 0, 0), |(c, f, s), bucket| {
                let word = bucket.get(0);
                (
                    c + (word & PACKED_FIELD),
                    f + ((word >> PACKED_BITS) & PACKED_FIELD),
                    s + ((word >> (2 * PACKED_BITS)) & PACKED_FIELD),
                )
            }),
        };
        Totals {
            calls,
            failures,
            slow,
        }
    }

    /// How many lanes the window is striped over.
    pub(crate) fn lanes(&self) -> usize {
        match &self.counts {
            Counts::Wide(counts) => counts.lanes(),
            Counts::Packed(counts) => counts.lanes(),
        }
    }

    pub(crate) fn reset(&self) {
        // The window's head maps time to buckets, whatever they hold: kept.
        match &self.counts {
            Counts::Wide(counts) => counts.reset(),
            Counts::Packed(counts) => counts.reset(),
        }
        self.last_bad.store(0, Ordering::Release);
    }
}

// Std atomics only: under `--cfg buttress_loom` the loom models test this.
#[cfg(all(test, not(buttress_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    impl TimeWindow {
        fn wide(&self) -> &SlidingWindow<2> {
            match &self.counts {
                Counts::Wide(counts) => counts,
                Counts::Packed(_) => panic!("a packed window"),
            }
        }

        /// The bytes the counters take, struct included (see
        /// [`SlidingWindow::memory`]).
        fn memory(&self) -> usize {
            match &self.counts {
                Counts::Wide(counts) => counts.memory(),
                Counts::Packed(counts) => counts.memory(),
            }
        }

        fn packed(&self) -> &SlidingWindow<1> {
            match &self.counts {
                Counts::Packed(counts) => counts,
                Counts::Wide(_) => panic!("a wide window"),
            }
        }
    }

    #[test]
    fn forgets_buckets_older_than_the_span() {
        // 10 s in 10 buckets of 1 s, two lanes.
        let window = TimeWindow::new(10_000 * MS, 10, 2);
        window.record(0, 0, true, false);
        window.record(1, 500 * MS, true, true);
        window.record(0, 3_000 * MS, false, false);
        assert_eq!(
            window.totals(3_000 * MS),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10.0 s the first bucket (0..1 s) has left the window.
        assert_eq!(window.totals(10_000 * MS).calls, 1);
        assert_eq!(window.totals(13_000 * MS).calls, 0);
    }

    #[test]
    fn a_reused_cell_is_cleared_first() {
        let window = TimeWindow::new(4 * MS, 4, 1);
        window.record(0, 0, true, false);
        // Same cell, four buckets later.
        let totals = window.record(0, 4 * MS, true, false).unwrap();
        assert_eq!(totals.calls, 1);
    }

    #[test]
    fn an_earlier_clock_reading_counts_in_its_own_bucket() {
        let window = TimeWindow::new(10 * MS, 10, 1);
        window.record(0, 5 * MS, true, false);
        // A thread that read the clock a moment earlier, in the bucket
        // before: counted there, and the cached bucket stays the later.
        window.record(0, 5 * MS - 1, true, false);
        assert_eq!(window.wide().newest(), Some(5));
        assert_eq!(window.totals(5 * MS).calls, 2);
        // Ten buckets after the first, the earlier bucket has left.
        assert_eq!(window.totals(14 * MS).calls, 1);
        assert_eq!(window.totals(15 * MS).calls, 0);
    }

    #[test]
    fn a_thousand_buckets_fit_in_16_kib() {
        let window = TimeWindow::new(60_000 * MS, MAX_BUCKETS, 16);
        let bytes = size_of::<TimeWindow>() + window.memory();
        assert!(bytes <= 16 * 1024, "{bytes} bytes");
        // Ten buckets keep every lane.
        assert_eq!(TimeWindow::new(10_000 * MS, 10, 16).lanes(), 16);
    }

    #[test]
    fn packed_fields_saturate_instead_of_wrapping() {
        let window = TimeWindow::new(10 * MS, 10, 1);
        let slot = window.wide().slot(0, 0).unwrap();
        slot.add(BAD, (SATURATED - 1) * FAILURE);
        window.record(0, 0, true, true);
        window.record(0, 0, true, false);
        window.record(0, 0, false, true);
        assert_eq!(
            window.totals(0),
            Totals {
                calls: 3,
                failures: SATURATED,
                slow: 2
            }
        );
    }

    #[test]
    fn a_healthy_window_is_not_summed() {
        let window = TimeWindow::new(10 * MS, 10, 4);
        assert_eq!(window.record(3, 0, false, false), None);
        assert!(window.record(2, MS, true, false).is_some());
        assert!(window.record(1, 5 * MS, false, false).is_some());
        // The failure's bucket has left the window.
        assert_eq!(window.record(1, 11 * MS, false, false), None);
    }

    #[test]
    fn per_key_windows_pack_past_512_buckets_and_stay_within_8_kib() {
        for buckets in [
            1,
            10,
            100,
            PER_KEY_WIDE_BUCKETS,
            PER_KEY_WIDE_BUCKETS + 1,
            MAX_BUCKETS,
        ] {
            let window = TimeWindow::per_key(86_400_000 * MS, buckets);
            assert_eq!(window.lanes(), 1);
            // Counters exactly as `per_key_bytes` says; the struct aside.
            let counters = window.memory() - size_of::<SlidingWindow<1>>();
            assert_eq!(counters, TimeWindow::per_key_bytes(buckets), "{buckets}");
            assert!(counters <= PER_KEY_MAX_BYTES, "{buckets}: {counters}");
            assert_eq!(
                matches!(window.counts, Counts::Packed(_)),
                buckets > PER_KEY_WIDE_BUCKETS
            );
        }
        assert_eq!(TimeWindow::per_key_bytes(MAX_BUCKETS), 8_000);
    }

    #[test]
    fn a_packed_window_counts_like_a_wide_one() {
        let wide = TimeWindow {
            counts: Counts::Wide(SlidingWindow::new(1_000 * MS, 1_000, 1)),
            last_bad: AtomicU64::new(0),
        };
        let packed = TimeWindow::per_key(1_000 * MS, 1_000);
        let mut rng = fastrand::Rng::with_seed(20);
        let mut now = 0;
        for _ in 0..20_000 {
            now += rng.u64(..200_000);
            let (failed, slow) = (rng.u8(..4) == 0, rng.u8(..8) == 0);
            assert_eq!(
                wide.record(0, now, failed, slow),
                packed.record(0, now, failed, slow)
            );
            assert_eq!(wide.totals(now), packed.totals(now));
        }
        assert!(packed.totals(now).failures > 0);
        assert_eq!(wide.is_quiet(now), packed.is_quiet(now));
    }

    #[test]
    fn a_packed_bucket_stops_counting_before_its_fields_carry() {
        let window = TimeWindow::per_key(1_000 * MS, 1_000);
        let slot = window.packed().slot(0, 0).unwrap();
        slot.add(0, PACKED_BUCKET_CALLS - 1);
        window.record(0, 0, true, true);
        // Full: neither counted, nor carried into the failures.
        window.record(0, 0, true, true);
        window.record(0, 0, false, false);
        assert_eq!(
            window.totals(0),
            Totals {
                calls: PACKED_BUCKET_CALLS,
                failures: 1,
                slow: 1
            }
        );
        // The next bucket counts again.
        window.record(0, MS, true, false);
        assert_eq!(window.totals(MS).failures, 2);
    }

    #[test]
    fn quiet_means_no_failure_within_the_span() {
        let window = TimeWindow::per_key(10 * MS, 10);
        assert!(window.is_quiet(0));
        window.record(0, MS, false, false);
        assert!(window.is_quiet(MS));
        window.record(0, 2 * MS, true, false);
        assert!(!window.is_quiet(2 * MS));
        assert!(!window.is_quiet(11 * MS));
        assert!(window.is_quiet(12 * MS));
        window.record(0, 13 * MS, false, true);
        assert!(!window.is_quiet(13 * MS));
        window.reset();
        assert!(window.is_quiet(13 * MS));
    }
}
