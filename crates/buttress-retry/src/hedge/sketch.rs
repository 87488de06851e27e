//! [`LatencySketch`]: recent attempt latencies in a bounded, lock-free
//! histogram, read as a percentile for the adaptive hedge delay.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock;
use tokio::time::Instant;

/// Sub-buckets per power of two: each bucket spans at most 19 % of its
/// lower bound, so a percentile is read within that.
const SUB: u32 = 4;
/// Powers of two of microseconds covered: 1 µs to 2^26 µs (67 s); longer
/// latencies land in the last bucket.
const OCTAVES: u32 = 26;
const BUCKETS: usize = (OCTAVES * SUB) as usize;
/// Fewer samples than this in the window: no percentile yet.
const MIN_SAMPLES: u32 = 20;
/// The cached percentile is recomputed once every this many samples.
const REFRESH_EVERY: u64 = 16;

/// Two generations of bucket counts, each covering half the window: the
/// older one is cleared when the clock moves past it, so the sketch holds
/// between one half and one whole window of samples, in a fixed
/// `2 × 104` counters (832 bytes) whatever the traffic.
pub(crate) struct LatencySketch {
    generations: [Generation; 2],
    /// The half-window the newest generation belongs to.
    epoch: AtomicU64,
    half_window: u64,
    percentile: f64,
    samples: AtomicU64,
    /// The last computed percentile, in nanoseconds; `u64::MAX` for none.
    cached: AtomicU64,
}

struct Generation {
    counts: [AtomicU32; BUCKETS],
}

impl Generation {
    fn new() -> Self {
        Generation {
            counts: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    fn clear(&self) {
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
    }
}

/// The bucket of `latency`: log-linear in microseconds.
fn bucket(latency: Duration) -> usize {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let octave = 63 - micros.leading_zeros(); // floor(log2)
    if octave >= OCTAVES {
        return BUCKETS - 1;
    }
    // The SUB most significant bits below the leading one.
    let sub = if octave >= 2 {
        (micros >> (octave - 2)) & u64::from(SUB - 1)
    } else {
        (micros << (2 - octave)) & u64::from(SUB - 1)
    };
    (octave * SUB) as usize + sub as usize
}

/// The upper bound of bucket `index`, as a duration.
fn upper_bound(index: usize) -> Duration {
    let index = index as u32;
    let (octave, sub) = (index / SUB, index % SUB);
    let base = 1u64 << octave;
    let micros = base + (base * u64::from(sub + 1)) / u64::from(SUB);
    Duration::from_micros(micros)
}

impl LatencySketch {
    /// A sketch over `window`, read at `percentile` (0 to 100, exclusive).
    pub(crate) fn new(window: Duration, percentile: f64) -> Self {
        LatencySketch {
            generations: [Generation::new(), Generation::new()],
            epoch: AtomicU64::new(0),
            half_window: (clock::nanos(window) / 2).max(1),
            percentile,
            samples: AtomicU64::new(0),
            cached: AtomicU64::new(u64::MAX),
        }
    }

    /// The generation for `now`, clearing the one that fell out of the
    /// window. Two racing writers may both clear it; a sample recorded
    /// between may be lost: the sketch is approximate by design.
    fn generation(&self, now: Instant) -> &Generation {
        let epoch = clock::ticks(now) / self.half_window;
        let seen = self.epoch.load(Ordering::Relaxed);
        if epoch > seen
            && self
                .epoch
                .compare_exchange(seen, epoch, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if epoch - seen >= 2 {
                // The whole window passed without a sample.
                self.generations[0].clear();
                self.generations[1].clear();
            } else {
                self.generations[(epoch % 2) as usize].clear();
            }
        }
        &self.generations[(epoch % 2) as usize]
    }

    /// Records one attempt's latency.
    pub(crate) fn record(&self, latency: Duration, now: Instant) {
        self.generation(now).counts[bucket(latency)].fetch_add(1, Ordering::Relaxed);
        if self
            .samples
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(REFRESH_EVERY)
        {
            self.refresh();
        }
    }

    fn refresh(&self) {
        let mut counts = [0u32; BUCKETS];
        let mut total = 0u64;
        for generation in &self.generations {
            for (sum, count) in counts.iter_mut().zip(&generation.counts) {
                let n = count.load(Ordering::Relaxed);
                *sum += n;
                total += u64::from(n);
            }
        }
        let value = if total < u64::from(MIN_SAMPLES) {
            u64::MAX
        } else {
            let rank = ((total as f64) * self.percentile / 100.0).ceil() as u64;
            let mut seen = 0u64;
            let index = counts
                .iter()
                .position(|&n| {
                    seen += u64::from(n);
                    seen >= rank.max(1)
                })
                .unwrap_or(BUCKETS - 1);
            clock::nanos(upper_bound(index))
        };
        self.cached.store(value, Ordering::Relaxed);
    }

    /// The configured percentile of recent latencies, once enough have
    /// been recorded.
    #[inline]
    pub(crate) fn percentile(&self) -> Option<Duration> {
        match self.cached.load(Ordering::Relaxed) {
            u64::MAX => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

impl std::fmt::Debug for LatencySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencySketch")
            .field("percentile", &self.percentile)
            .field("current", &self.percentile())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_latencies() {
        let mut last = 0;
        for micros in [
            1u64, 2, 3, 5, 8, 100, 999, 1_000, 5_000, 5_001, 500_000, 60_000_000,
        ] {
            let latency = Duration::from_micros(micros);
            let index = bucket(latency);
            assert!(index >= last, "{micros}");
            last = index;
            assert!(
                upper_bound(index) >= latency,
                "{micros}: {:?}",
                upper_bound(index)
            );
            // Within a fifth above the latency (plus a microsecond of
            // rounding at the bottom).
            assert!(
                upper_bound(index).as_micros() as f64 <= micros as f64 * 1.25 + 1.0,
                "{micros}: {:?}",
                upper_bound(index)
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_the_percentile_of_the_window_only() {
        let sketch = LatencySketch::new(Duration::from_secs(10), 90.0);
        assert_eq!(sketch.percentile(), None);
        let now = Instant::now();
        // 95 fast, 5 slow: p90 is fast.
        for i in 0..100u32 {
            let latency = if i % 20 == 0 { 500 } else { 5 };
            sketch.record(Duration::from_millis(latency), now);
        }
        sketch.refresh();
        let p90 = sketch.percentile().unwrap();
        assert!(
            p90 >= Duration::from_millis(5) && p90 <= Duration::from_millis(6),
            "{p90:?}"
        );
        // A whole window later only new samples count: all slow.
        let later = now + Duration::from_secs(11);
        for _ in 0..40 {
            sketch.record(Duration::from_millis(500), later);
        }
        sketch.refresh();
        assert!(sketch.percentile().unwrap() >= Duration::from_millis(500));
    }
}
