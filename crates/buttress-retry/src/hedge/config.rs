//! [`HedgeConfig`]: when a retry layer hedges, and after how long.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::clock;
use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};

use super::sketch::LatencySketch;

/// Hedging instead of retrying: after a delay with no answer, the layer
/// sends another attempt of the same request and takes the first
/// acceptable answer, dropping the others at once. Set on a
/// [`RetryConfig`](crate::RetryConfig)'s `hedge` (a client stack's
/// `hedge`); the retry's `max_attempts` bounds the attempts in flight,
/// its budget pays for every hedge, and its idempotency rule and
/// `grpc_methods` decide which requests may be hedged.
///
/// | field | default | meaning |
/// | --- | --- | --- |
/// | `delay` | none: adaptive | a fixed delay before each hedge |
/// | `percentile` | 90 | adaptive: the percentile of recent attempt latencies to wait (50 to 99.9) |
/// | `floor` | 1 ms | adaptive: the shortest delay |
/// | `ceiling` | 1 s | adaptive: the longest delay, also the delay until enough latencies are known |
/// | `window` | 30 s | adaptive: how far back latencies count (1 s to 1 h) |
///
/// ```
/// use buttress_retry::RetryConfig;
/// use std::time::Duration;
///
/// let config: RetryConfig = toml::from_str(r#"
///     max_attempts = 2
///     hedge = { percentile = 95.0, floor = "2ms", ceiling = "200ms" }
/// "#).unwrap();
/// assert_eq!(config.hedge.unwrap().ceiling, Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HedgeConfig {
    /// A fixed delay before each hedge; `None`: adaptive.
    #[serde(with = "humantime_serde")]
    pub delay: Option<Duration>,
    /// The percentile of recent attempt latencies waited before a hedge.
    pub percentile: f64,
    /// The shortest adaptive delay.
    #[serde(with = "humantime_serde")]
    pub floor: Duration,
    /// The longest adaptive delay, and the delay used until enough
    /// latencies are known.
    #[serde(with = "humantime_serde")]
    pub ceiling: Duration,
    /// How far back latencies count.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        HedgeConfig {
            delay: None,
            percentile: 90.0,
            floor: Duration::from_millis(1),
            ceiling: Duration::from_secs(1),
            window: Duration::from_secs(30),
        }
    }
}

impl HedgeConfig {
    /// Whether a running hedge's settings may become `new` while the layer
    /// runs: the same schedule (fixed or adaptive), and for an adaptive
    /// one the same percentile and window (the latency sketch is sized by
    /// them); the delays may change. An error names the field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use buttress_retry::HedgeConfig;
    ///
    /// let running = HedgeConfig::default();
    /// let lower = HedgeConfig { ceiling: Duration::from_millis(200), ..HedgeConfig::default() };
    /// assert!(running.check_live(&lower).is_ok());
    /// let fixed = HedgeConfig { delay: Some(Duration::from_millis(5)), ..HedgeConfig::default() };
    /// assert_eq!(running.check_live(&fixed).unwrap_err().field(), "delay");
    /// ```
    pub fn check_live(&self, new: &HedgeConfig) -> Result<(), ConfigError> {
        if self.delay.is_some() != new.delay.is_some() {
            return Err(ConfigError::new(
                "delay",
                "switches between a fixed and an adaptive delay, fixed once built",
            ));
        }
        if new.delay.is_none() {
            buttress_core::layer::fixed("percentile", &self.percentile, &new.percentile)?;
            buttress_core::layer::fixed("window", &self.window, &new.window)?;
        }
        Ok(())
    }

    /// The checked settings; an error names the field.
    pub(crate) fn hedging(&self) -> Result<Hedging, ConfigError> {
        if let Some(delay) = self.delay {
            check_duration("delay", delay, Duration::from_micros(1)..=MAX_DURATION)?;
            return Ok(Hedging::Fixed(nanos_cell(delay)));
        }
        if !(50.0..=99.9).contains(&self.percentile) {
            return Err(ConfigError::new("percentile", "must be within 50 and 99.9"));
        }
        check_duration("floor", self.floor, Duration::from_micros(1)..=MAX_DURATION)?;
        check_duration("ceiling", self.ceiling, self.floor..=MAX_DURATION)
            .map_err(|_| ConfigError::new("ceiling", "must be at least floor, at most a day"))?;
        check_duration(
            "window",
            self.window,
            Duration::from_secs(1)..=Duration::from_secs(3_600),
        )?;
        Ok(Hedging::Adaptive {
            sketch: Arc::new(LatencySketch::new(self.window, self.percentile)),
            floor: nanos_cell(self.floor),
            ceiling: nanos_cell(self.ceiling),
        })
    }
}

/// How a layer hedges, validated. The delays are atomics so that the
/// layer's handle can change them while it runs; which schedule (fixed or
/// adaptive), the percentile and the window are fixed once built (the
/// sketch is sized by them).
#[derive(Debug)]
pub(crate) enum Hedging {
    /// Nanoseconds.
    Fixed(AtomicU64),
    Adaptive {
        sketch: Arc<LatencySketch>,
        /// Nanoseconds.
        floor: AtomicU64,
        /// Nanoseconds.
        ceiling: AtomicU64,
    },
}

fn nanos_cell(duration: Duration) -> AtomicU64 {
    AtomicU64::new(clock::nanos(duration))
}

fn read(cell: &AtomicU64) -> Duration {
    Duration::from_nanos(cell.load(Ordering::Relaxed))
}

impl Hedging {
    /// Takes `config`'s delays (checked, and passing
    /// [`HedgeConfig::check_live`]) from the next hedge on.
    pub(crate) fn set(&self, config: &HedgeConfig) {
        match self {
            Hedging::Fixed(delay) => {
                if let Some(new) = config.delay {
                    delay.store(clock::nanos(new), Ordering::Relaxed);
                }
            }
            Hedging::Adaptive { floor, ceiling, .. } => {
                floor.store(clock::nanos(config.floor), Ordering::Relaxed);
                ceiling.store(clock::nanos(config.ceiling), Ordering::Relaxed);
            }
        }
    }

    /// The wait before the next hedge.
    #[inline]
    pub(crate) fn delay(&self) -> Duration {
        match self {
            Hedging::Fixed(delay) => read(delay),
            Hedging::Adaptive {
                sketch,
                floor,
                ceiling,
            } => {
                let (floor, ceiling) = (read(floor), read(ceiling));
                // A reload writes floor and ceiling apart: a reader
                // between the two may see them crossed for a moment.
                let floor = floor.min(ceiling);
                sketch
                    .percentile()
                    .map_or(ceiling, |p| p.clamp(floor, ceiling))
            }
        }
    }

    /// Records how long a finished attempt took (adaptive only).
    #[inline]
    pub(crate) fn record(&self, latency: Duration, now: tokio::time::Instant) {
        if let Hedging::Adaptive { sketch, .. } = self {
            sketch.record(latency, now);
        }
    }
}
