//! [`SlidingWindow`]: counts over the last span of time, updated on the
//! call path without a lock, an allocation or a rescan.
//!
//! The breaker's time window (calls, failures and slow calls), the retry
//! budget (requests and retries) and the throttle (requests and accepts)
//! all ask the same question — how many of each happened in the last
//! `span` — and answer it with this one window; each layer only decides
//! what its counters mean.
//!
//! # How it works
//!
//! The span is split into `B` buckets of `span / B` ticks; bucket `n`
//! covers ticks `[n × width, (n + 1) × width)` and lives at index
//! `n mod B` of a ring. Each bucket holds `W` counters (`u64` words: a
//! layer may pack several small fields into one word, as the throttle
//! does). One word, the *head*, names the newest bucket and caches its
//! index, so finding the bucket of "now" costs a load and a
//! multiplication, not a division; only the first call of each bucket
//! divides.
//!
//! The first call that reads a time past the newest bucket moves the head
//! forward (one compare-and-swap) and then clears the buckets the window
//! slid over, the new newest first. No timer and no sweeper: the window
//! slides when it is used, and after an idle gap longer than the span one
//! pass clears it all. Readers never write: [`sum`](SlidingWindow::sum)
//! skips the buckets that the reader's own clock has aged out, so a
//! window nobody recorded into for a while reads empty.
//!
//! # Lanes
//!
//! A window may be *striped* over lanes: every bucket has one copy of its
//! counters per lane, each lane's row padded to whole cache lines, and
//! a caller records into the lane of its thread, so threads on different
//! cores do not fight over one cache line. A read sums the lanes. Lanes
//! cost memory in proportion to the bucket count, so a window takes only
//! as many lanes (a power of two, up to the count asked for) as fit in
//! [`MAX_BYTES`]: a 10-bucket window keeps 16 lanes in about 3 KiB, a
//! 1,000-bucket one has a single lane and takes about 16 KB. See
//! [`SlidingWindow::memory`].
//!
//! # Running totals
//!
//! A window built [`with_totals`](SlidingWindow::with_totals) also keeps
//! the sum of its buckets in `W` words of its own, added to on every
//! record and subtracted from when a bucket is cleared, so that
//! [`totals`](SlidingWindow::totals) is one load per word — what a layer
//! that reads the window on every call wants (the throttle). Such a window
//! has one lane: shared totals are written by every record anyway.
//!
//! # Races
//!
//! A record racing the move to a new bucket may be counted a bucket early
//! or late, or lost when it is written to a bucket just before that bucket is
//! cleared; a reader racing the move may see, for an instant, the bucket
//! being recycled still holding its old counts. That is at most a few
//! calls at a bucket boundary, never a drift: the running totals always
//! equal the sum of the buckets once the writers are done, and no counter
//! underflows. A record whose time is older than the window (a thread that
//! read the clock a whole span ago) is dropped. `--cfg buttress_loom`
//! swaps the atomics for loom's, for the model checks in
//! `tests/loom_window.rs`.
//!
//! ```
//! use buttress_core::window::SlidingWindow;
//!
//! const SEC: u64 = 1_000_000_000;
//! // Requests and errors over the last 10 s, in 10 buckets of 1 s.
//! let window = SlidingWindow::<2>::new(10 * SEC, 10, 1);
//! window.record(0, 0, [1, 1]);
//! window.record(0, 4 * SEC, [1, 0]);
//! assert_eq!(window.sum(5 * SEC), [2, 1]);
//! // At 10 s the first bucket (0..1 s) has left the window.
//! assert_eq!(window.sum(10 * SEC), [1, 0]);
//! assert_eq!(window.sum(14 * SEC), [0, 0]);
//! ```

use std::fmt;

#[cfg(buttress_loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(buttress_loom))]
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(all(test, not(buttress_loom)))]
mod tests;

/// The most buckets a window may have; more are clamped to this.
pub const MAX_BUCKETS: u32 = 4_096;

/// The most lanes a window may have.
pub const MAX_LANES: usize = 64;

/// What a striped window may take in all, struct and counters: lanes are
/// added only while the window stays within it. A window whose single lane
/// needs more takes what that lane needs.
pub const MAX_BYTES: usize = 16 * 1024;

/// Bits of the head word that hold the newest bucket's index in the ring
/// ([`MAX_BUCKETS`] of them fit).
const INDEX_BITS: u32 = 12;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const _: () = assert!(MAX_BUCKETS as u64 <= INDEX_MASK + 1);

/// The newest bucket number the head word holds (plus one, in the bits
/// above the index). With ticks of a nanosecond and buckets of at least a
/// microsecond that is 142 years; past it the window stops sliding and
/// counts into its newest bucket.
const MAX_BUCKET: u64 = (u64::MAX >> INDEX_BITS) - 1;

/// Counter words per cache line: a lane's row is padded to a multiple of
/// it, so that no two lanes' copies of a bucket share a line.
const LINE_WORDS: usize = 8;

/// The running totals, on a cache line of their own: written by every
/// record, so kept away from the read-mostly head.
#[repr(align(64))]
struct Totals<const W: usize>([AtomicU64; W]);

/// Counts of `W` kinds over the last `span` ticks, in buckets, optionally
/// striped over lanes. See the [module documentation](self).
///
/// Time is a tick count passed in by the caller (the layers pass
/// [`clock::ticks`](crate::clock::ticks), nanoseconds from one process-wide
/// epoch); the window itself reads no clock, so a test or a model checker
/// can drive it with made-up ticks.
///
/// ```
/// use buttress_core::window::SlidingWindow;
///
/// // Two kinds over 4,000 ticks in 4 buckets, with running totals.
/// let window = SlidingWindow::<2>::with_totals(4_000, 4);
/// window.record(0, 500, [3, 1]);
/// window.record(0, 2_500, [2, 2]);
/// assert_eq!(window.totals(), Some([5, 3]));
/// // Moving to 4,000 clears the bucket of 0..1,000.
/// assert!(window.advance(4_000));
/// assert_eq!(window.totals(), Some([2, 2]));
/// assert!(window.memory() < 1_024);
/// ```
pub struct SlidingWindow<const W: usize> {
    /// The newest bucket: its number plus one above [`INDEX_BITS`], its
    /// index in the ring below (0: none yet). Read by every record,
    /// written once per bucket width.
    head: AtomicU64,
    width: u64,
    buckets: u64,
    /// Lanes minus one; the lane count is a power of two.
    lane_mask: usize,
    /// Words from one lane's row to the next.
    stride: usize,
    /// Lane-major: each lane's row of buckets, each bucket's `W` words.
    cells: Box<[AtomicU64]>,
    totals: Option<Box<Totals<W>>>,
}

/// One bucket of one lane, as [`SlidingWindow::fold`] passes it: read
/// the counters a fold needs, one load each.
#[derive(Debug, Clone, Copy)]
pub struct Counters<'a, const W: usize> {
    words: &'a [AtomicU64; W],
}

impl<const W: usize> Counters<'_, W> {
    /// Counter `word` (below `W`).
    #[inline]
    pub fn get(&self, word: usize) -> u64 {
        assert!(word < W, "counter {word} of a window of {W}");
        self.words[word].load(Ordering::Relaxed)
    }

    /// Every counter.
    #[inline]
    pub fn all(&self) -> [u64; W] {
        std::array::from_fn(|word| self.get(word))
    }
}

/// Where one record goes: a bucket of one lane, found (and the window
/// moved) by [`SlidingWindow::slot`]. Add to its counters with
/// [`add`](Slot::add).
#[derive(Debug)]
pub struct Slot<'a, const W: usize> {
    window: &'a SlidingWindow<W>,
    /// The first word of the bucket's counters.
    base: usize,
    moved: bool,
}

impl<const W: usize> SlidingWindow<W> {
    /// A window over the last `span` ticks in `buckets` buckets (1 to
    /// [`MAX_BUCKETS`], clamped), striped over up to `lanes` lanes: the
    /// count rounded up to a power of two, at most [`MAX_LANES`], and
    /// halved until the window fits in [`MAX_BYTES`] (at least one).
    ///
    /// Each bucket covers `span / buckets` ticks (at least one); the
    /// window's exact span is that times the bucket count.
    pub fn new(span: u64, buckets: u32, lanes: usize) -> Self {
        const { assert!(W > 0, "a window counts at least one kind") };
        let buckets = buckets.clamp(1, MAX_BUCKETS) as usize;
        let row = buckets * W;
        let mut lanes = lanes.clamp(1, MAX_LANES).next_power_of_two();
        while lanes > 1 && Self::bytes(lanes * row.next_multiple_of(LINE_WORDS), false) > MAX_BYTES
        {
            lanes /= 2;
        }
        // One lane needs no padding between rows.
        let stride = if lanes == 1 {
            row
        } else {
            row.next_multiple_of(LINE_WORDS)
        };
        Self::build(span, buckets, lanes, stride, false)
    }

    /// A window of one lane over the last `span` ticks in `buckets`
    /// buckets that also keeps running totals, read by
    /// [`totals`](Self::totals) in one load per counter.
    pub fn with_totals(span: u64, buckets: u32) -> Self {
        const { assert!(W > 0, "a window counts at least one kind") };
        let buckets = buckets.clamp(1, MAX_BUCKETS) as usize;
        Self::build(span, buckets, 1, buckets * W, true)
    }

    fn build(span: u64, buckets: usize, lanes: usize, stride: usize, totals: bool) -> Self {
        let words = lanes * stride;
        SlidingWindow {
            head: AtomicU64::new(0),
            width: (span / buckets as u64).max(1),
            buckets: buckets as u64,
            lane_mask: lanes - 1,
            stride,
            cells: (0..words).map(|_| AtomicU64::new(0)).collect(),
            totals: totals.then(|| Box::new(Totals(std::array::from_fn(|_| AtomicU64::new(0))))),
        }
    }

    /// What a window of `words` counter words takes, struct included.
    fn bytes(words: usize, totals: bool) -> usize {
        size_of::<Self>()
            + words * size_of::<AtomicU64>()
            + if totals { size_of::<Totals<W>>() } else { 0 }
    }

    /// The bytes this window takes, struct and counters: `W × 8` per
    /// bucket per lane (each lane's row rounded up to whole 64-byte lines
    /// when there are several), plus about a hundred.
    ///
    /// ```
    /// use buttress_core::window::{MAX_BYTES, SlidingWindow};
    ///
    /// // 1,000 buckets of two counters: one lane, 16,000 bytes of counters.
    /// let window = SlidingWindow::<2>::new(60_000_000_000, 1_000, 16);
    /// assert_eq!(window.lanes(), 1);
    /// assert!(window.memory() <= MAX_BYTES);
    /// // 10 buckets: every lane asked for, in about 3 KiB.
    /// let window = SlidingWindow::<2>::new(10_000_000_000, 10, 16);
    /// assert_eq!(window.lanes(), 16);
    /// assert!(window.memory() <= 4 * 1_024);
    /// ```
    pub fn memory(&self) -> usize {
        Self::bytes(self.cells.len(), self.totals.is_some())
    }

    /// How many lanes the window is striped over.
    pub fn lanes(&self) -> usize {
        self.lane_mask + 1
    }

    /// How many buckets the window has.
    pub fn buckets(&self) -> u32 {
        self.buckets as u32
    }

    /// The ticks one bucket covers.
    pub fn width(&self) -> u64 {
        self.width
    }

    /// The ticks the window covers: the bucket width times the bucket
    /// count.
    pub fn span(&self) -> u64 {
        self.width.saturating_mul(self.buckets)
    }

    /// The number of the newest bucket recorded into or moved to (tick /
    /// width), if any.
    pub fn newest(&self) -> Option<u64> {
        (self.head.load(Ordering::Acquire) >> INDEX_BITS).checked_sub(1)
    }

    #[inline]
    fn word(&self, index: usize) -> &AtomicU64 {
        &self.cells[index]
    }

    #[inline]
    fn bucket_of(&self, now: u64) -> u64 {
        (now / self.width).min(MAX_BUCKET)
    }

    /// The bucket of `lane` (taken modulo the lane count) that a record at
    /// tick `now` goes to, moving the window forward first if `now` is
    /// past its newest bucket; `None` if `now` is older than the window.
    #[inline]
    pub fn slot(&self, lane: usize, now: u64) -> Option<Slot<'_, W>> {
        let head = self.head.load(Ordering::Acquire);
        let newest = head >> INDEX_BITS;
        // Bucket `newest - 1` covers [(newest - 1) × width, newest × width):
        // one multiplication tells whether `now` falls in it.
        let start = newest.wrapping_sub(1).wrapping_mul(self.width);
        if newest != 0 && now.wrapping_sub(start) < self.width {
            return Some(self.slot_at(lane, (head & INDEX_MASK) as usize, false));
        }
        self.slot_slow(lane, now)
    }

    #[cold]
    fn slot_slow(&self, lane: usize, now: u64) -> Option<Slot<'_, W>> {
        let bucket = self.bucket_of(now);
        let moved = self.advance_to(bucket);
        let head = self.head.load(Ordering::Acquire);
        // Not zero: `advance_to` has set it, or found it past `bucket`.
        let newest = (head >> INDEX_BITS).wrapping_sub(1);
        if newest.wrapping_sub(bucket) >= self.buckets {
            return None;
        }
        let index = if newest == bucket {
            head & INDEX_MASK
        } else {
            bucket % self.buckets
        };
        Some(self.slot_at(lane, index as usize, moved))
    }

    #[inline]
    fn slot_at(&self, lane: usize, index: usize, moved: bool) -> Slot<'_, W> {
        Slot {
            window: self,
            base: (lane & self.lane_mask) * self.stride + index * W,
            moved,
        }
    }

    /// Adds `counts` at tick `now` in `lane`: the usual record. `true` if
    /// this call moved the window to a new bucket (the moment a layer
    /// reports a gauge computed from the window).
    #[inline]
    pub fn record(&self, lane: usize, now: u64, counts: [u64; W]) -> bool {
        let Some(slot) = self.slot(lane, now) else {
            return false;
        };
        for (word, count) in counts.into_iter().enumerate() {
            if count != 0 {
                slot.add(word, count);
            }
        }
        slot.moved()
    }

    /// Moves the window to tick `now`, clearing the buckets that fell out;
    /// `true` if this call moved it.
    pub fn advance(&self, now: u64) -> bool {
        self.advance_to(self.bucket_of(now))
    }

    fn advance_to(&self, bucket: u64) -> bool {
        let mut head = self.head.load(Ordering::Acquire);
        let next = ((bucket + 1) << INDEX_BITS) | (bucket % self.buckets);
        loop {
            if head >> INDEX_BITS > bucket {
                return false;
            }
            match self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        let Some(newest) = (head >> INDEX_BITS).checked_sub(1) else {
            // The first bucket: the counters are as built, all zero.
            return true;
        };
        // The buckets of (newest, bucket] are recycled: clear them, the new
        // head's first, so that the instant a record or a read can see it
        // holding old counts is as short as can be.
        let mut index = (next & INDEX_MASK) as usize;
        for _ in 0..(bucket - newest).min(self.buckets) {
            self.clear_bucket(index);
            index = index.checked_sub(1).unwrap_or(self.buckets as usize - 1);
        }
        true
    }

    fn clear_bucket(&self, index: usize) {
        for lane in 0..self.lanes() {
            let base = lane * self.stride + index * W;
            for word in 0..W {
                let cell = self.word(base + word);
                // Most recycled buckets of a quiet window are empty already:
                // do not dirty their lines.
                if cell.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                // Taken before it is subtracted, and a record adds to the
                // totals before the bucket: the totals never fall below
                // the buckets' sum.
                let stale = cell.swap(0, Ordering::AcqRel);
                if let Some(totals) = &self.totals {
                    totals.0[word].fetch_sub(stale, Ordering::AcqRel);
                }
            }
        }
    }

    /// Folds `f` over every bucket and lane inside the window as seen at
    /// tick `now`, passing each one's [`Counters`] to read: for a layer
    /// whose words pack fields that must be summed apart, or that can skip
    /// a bucket on its first counter. Read-only: the buckets the window
    /// slid past by `now` are skipped, not cleared. A `now` before the
    /// newest bucket reads the window as of that bucket.
    #[inline]
    pub fn fold<T>(&self, now: u64, init: T, mut f: impl FnMut(T, Counters<'_, W>) -> T) -> T {
        let head = self.head.load(Ordering::Acquire);
        let Some(newest) = (head >> INDEX_BITS).checked_sub(1) else {
            return init;
        };
        let aged = self.bucket_of(now).saturating_sub(newest);
        if aged >= self.buckets {
            return init;
        }
        let live = (self.buckets - aged) as usize;
        let newest = (head & INDEX_MASK) as usize;
        let buckets = self.buckets as usize;
        let mut acc = init;
        if live == buckets {
            // The whole ring, the usual case: one run over each row.
            for row in self.cells.chunks(self.stride) {
                for words in row[..buckets * W].as_chunks::<W>().0 {
                    acc = f(acc, Counters { words });
                }
            }
            return acc;
        }
        // The live buckets are the `live` up to the newest, around the
        // ring: one run of indices, or two when it wraps.
        let (first, second) = if live <= newest + 1 {
            (newest + 1 - live..newest + 1, 0..0)
        } else {
            (0..newest + 1, buckets + newest + 1 - live..buckets)
        };
        for row in self.cells.chunks(self.stride) {
            let (ring, _) = row[..buckets * W].as_chunks::<W>();
            for words in &ring[first.clone()] {
                acc = f(acc, Counters { words });
            }
            for words in &ring[second.clone()] {
                acc = f(acc, Counters { words });
            }
        }
        acc
    }

    /// The counters summed over the window as seen at tick `now` (each
    /// word summed, wrapping). Read-only, see [`fold`](Self::fold).
    pub fn sum(&self, now: u64) -> [u64; W] {
        self.fold(now, [0; W], |mut sum, counts| {
            for (total, count) in sum.iter_mut().zip(counts.all()) {
                *total = total.wrapping_add(count);
            }
            sum
        })
    }

    /// The running totals as of the window's last move, for a window
    /// built [`with_totals`](Self::with_totals); `None` otherwise.
    #[inline]
    pub fn totals(&self) -> Option<[u64; W]> {
        let totals = self.totals.as_ref()?;
        Some(std::array::from_fn(|word| {
            totals.0[word].load(Ordering::Acquire)
        }))
    }

    /// Forgets every count. The head is kept: it maps time to buckets,
    /// whatever they hold. Not one atomic step with records racing it: a
    /// record may land just before or after its bucket is zeroed.
    pub fn reset(&self) {
        for cell in self.cells.iter() {
            cell.store(0, Ordering::Relaxed);
        }
        if let Some(totals) = &self.totals {
            for total in &totals.0 {
                total.store(0, Ordering::Release);
            }
        }
    }
}

impl<const W: usize> Slot<'_, W> {
    /// Adds `count` to counter `word` (below `W`) of this bucket, and to
    /// the running totals if the window keeps them; returns the bucket's
    /// count before.
    #[inline]
    pub fn add(&self, word: usize, count: u64) -> u64 {
        assert!(word < W, "counter {word} of a window of {W}");
        let cell = self.window.word(self.base + word);
        match &self.window.totals {
            // Totals first, bucket second: see `clear_bucket`.
            Some(totals) => {
                totals.0[word].fetch_add(count, Ordering::AcqRel);
                cell.fetch_add(count, Ordering::AcqRel)
            }
            None => cell.fetch_add(count, Ordering::Relaxed),
        }
    }

    /// Counter `word` (below `W`) of this bucket as it stands: for a
    /// layer that saturates a packed field by not adding past a limit
    /// (racing adders may overshoot it by one each).
    #[inline]
    pub fn get(&self, word: usize) -> u64 {
        assert!(word < W, "counter {word} of a window of {W}");
        self.window.word(self.base + word).load(Ordering::Relaxed)
    }

    /// Whether finding this slot moved the window to a new bucket.
    #[inline]
    pub fn moved(&self) -> bool {
        self.moved
    }
}

impl<const W: usize> fmt::Debug for SlidingWindow<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlidingWindow")
            .field("width", &self.width)
            .field("buckets", &self.buckets)
            .field("lanes", &self.lanes())
            .field("newest", &self.newest())
            .field("totals", &self.totals())
            .finish_non_exhaustive()
    }
}
