//! [`HedgeConfig`]: when a retry layer hedges, and after how long.

use std::sync::Arc;
use std::time::Duration;

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
/// # #[cfg(feature = "serde")] {
/// use buttress_retry::RetryConfig;
/// use std::time::Duration;
///
/// let config: RetryConfig = toml::from_str(r#"
///     max_attempts = 2
///     hedge = { percentile = 95.0, floor = "2ms", ceiling = "200ms" }
/// "#).unwrap();
/// assert_eq!(config.hedge.unwrap().ceiling, Duration::from_millis(200));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct HedgeConfig {
    /// A fixed delay before each hedge; `None`: adaptive.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub delay: Option<Duration>,
    /// The percentile of recent attempt latencies waited before a hedge.
    pub percentile: f64,
    /// The shortest adaptive delay.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub floor: Duration,
    /// The longest adaptive delay, and the delay used until enough
    /// latencies are known.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub ceiling: Duration,
    /// How far back latencies count.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
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
    /// The checked settings; an error names the field.
    pub(crate) fn hedging(&self) -> Result<Hedging, ConfigError> {
        if let Some(delay) = self.delay {
            check_duration("delay", delay, Duration::from_micros(1)..=MAX_DURATION)?;
            return Ok(Hedging::Fixed(delay));
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
            floor: self.floor,
            ceiling: self.ceiling,
        })
    }
}

/// How a layer hedges, validated.
#[derive(Debug, Clone)]
pub(crate) enum Hedging {
    Fixed(Duration),
    Adaptive {
        sketch: Arc<LatencySketch>,
        floor: Duration,
        ceiling: Duration,
    },
}

impl Hedging {
    /// The wait before the next hedge.
    #[inline]
    pub(crate) fn delay(&self) -> Duration {
        match self {
            Hedging::Fixed(delay) => *delay,
            Hedging::Adaptive {
                sketch,
                floor,
                ceiling,
            } => sketch
                .percentile()
                .map_or(*ceiling, |p| p.clamp(*floor, *ceiling)),
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
