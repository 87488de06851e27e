//! [`RetryHandle`]: reads a retry layer's settings and its budget.

use std::fmt;
use std::sync::{Arc, Mutex};

use buttress_core::clock;
use buttress_core::config::ConfigError;
use buttress_core::layer::{LayerConfig, LayerHandle, Reconfigure, check_name, fixed};
use buttress_core::telemetry::{LayerId, Telemetry};

use crate::budget::RetryBudget;
use crate::config::RetryConfig;
use crate::hedge::Hedging;
use crate::policy::live::LiveLimits;
use crate::replay::ReplayMemory;

/// Reads a [`RetryLayer`](crate::RetryLayer)'s settings and the state of
/// its budget: the layer's [`LayerHandle`], from
/// [`RetryLayer::handle`](crate::RetryLayer::handle). Cheap to clone; every
/// clone sees the budget every service of the layer draws on.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::layer::LayerHandle;
/// use buttress_retry::RetryLayer;
///
/// let layer = RetryLayer::builder().name("inventory").build().unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.id().name(), "inventory");
/// assert_eq!(handle.config().max_attempts, 3);
/// // Before any request, the budget's floor: 10 per second over 10 s.
/// assert_eq!(handle.budget_remaining(), Some(100));
///
/// let unbudgeted = RetryLayer::builder().configure(|c| c.budget = None).build().unwrap().handle();
/// assert_eq!(unbudgeted.budget_remaining(), None);
/// ```
#[derive(Clone)]
pub struct RetryHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// The config as last applied.
    config: Mutex<RetryConfig>,
    /// The policy's part that may change while the layer runs.
    live: Arc<LiveLimits>,
    /// The hedge delays, when the layer hedges.
    hedging: Option<Arc<Hedging>>,
    telemetry: Telemetry,
    budget: Option<RetryBudget>,
    memory: ReplayMemory,
}

impl RetryHandle {
    pub(crate) fn new(
        config: RetryConfig,
        live: Arc<LiveLimits>,
        hedging: Option<Arc<Hedging>>,
        telemetry: Telemetry,
        budget: Option<RetryBudget>,
        memory: ReplayMemory,
    ) -> Self {
        let inner = Arc::new(Inner {
            config: Mutex::new(config),
            live,
            hedging,
            telemetry,
            budget,
            memory,
        });
        inner.telemetry.describe_config(&inner, |i| &i.config);
        RetryHandle { inner }
    }

    /// The settings the layer runs with now (its `budget` those of the
    /// budget it draws on, when it shares one).
    pub fn config(&self) -> RetryConfig {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The budget the layer draws on, if it has one: to read it, or to
    /// give it to another layer for the same dependency with
    /// [`RetryLayerBuilder::shared_budget`](crate::RetryLayerBuilder::shared_budget)
    /// so that both draw on one allowance.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.inner.budget.as_ref()
    }

    /// How many more retries the budget allows now; `None` without a
    /// budget (only `max_attempts` limits retries).
    pub fn budget_remaining(&self) -> Option<u64> {
        let budget = self.inner.budget.as_ref()?;
        Some(budget.remaining(clock::now()))
    }

    /// The request-body bytes the layer keeps for replay now, across all
    /// its requests; never more than its `replay_memory` cap.
    pub fn replay_buffered(&self) -> usize {
        self.inner.memory.buffered()
    }

    /// The layer's replay memory: its per-request limit, its cap and what
    /// it holds.
    pub fn replay_memory(&self) -> &ReplayMemory {
        &self.inner.memory
    }
}

impl LayerHandle for RetryHandle {
    fn id(&self) -> &LayerId {
        self.inner.telemetry.layer()
    }
}

impl Reconfigure for RetryHandle {
    type Config = RetryConfig;

    fn config(&self) -> RetryConfig {
        RetryHandle::config(self)
    }

    /// `max_attempts`, `backoff`, `max_retry_after` and `timeout` may
    /// change while the layer runs: a request already retrying keeps
    /// counting its attempts against the new maximum. What is retried
    /// (`retry_on`, `idempotency`, `grpc_methods`), the budget, replay
    /// limits, the seed and the name are fixed once built. A hedging
    /// layer takes new hedge delays (`hedge.delay`, or the adaptive
    /// `floor` and `ceiling`); whether it hedges, fixed or adaptive, and
    /// the adaptive percentile and window are fixed.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_retry::{RetryConfig, RetryLayer};
    ///
    /// let layer = RetryLayer::from_config(&RetryConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// handle.reconfigure(&RetryConfig { max_attempts: 5, ..RetryConfig::default() }).unwrap();
    /// assert_eq!(handle.config().max_attempts, 5);
    /// let idempotency = RetryConfig { idempotency: buttress_retry::Idempotency::Ignored, ..RetryConfig::default() };
    /// assert_eq!(handle.reconfigure(&idempotency).unwrap_err().field(), "idempotency");
    /// ```
    fn check(&self, config: &RetryConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())?;
        let running = self.config();
        fixed("retry_on", &running.retry_on, &config.retry_on)?;
        fixed("idempotency", &running.idempotency, &config.idempotency)?;
        fixed("grpc_methods", &running.grpc_methods, &config.grpc_methods)?;
        fixed("budget", &running.budget, &config.budget)?;
        match (&running.hedge, &config.hedge) {
            (Some(running), Some(new)) => {
                running.check_live(new).map_err(|e| e.in_section("hedge"))?;
            }
            (running, new) => fixed("hedge", running, new)?,
        }
        fixed("body_limit", &running.body_limit, &config.body_limit)?;
        fixed(
            "replay_memory",
            &running.replay_memory,
            &config.replay_memory,
        )?;
        fixed("seed", &running.seed, &config.seed)
    }

    fn reconfigure(&self, config: &RetryConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        let new = config.policy()?.live;
        let mut running = self.inner.config.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.live.set(
            new.max_attempts(),
            new.backoff(),
            new.max_retry_after(),
            new.timeout(),
        );
        if let (Some(hedging), Some(hedge)) = (&self.inner.hedging, &config.hedge) {
            hedging.set(hedge);
        }
        *running = RetryConfig {
            name: running.name.clone(),
            ..config.clone()
        };
        Ok(())
    }
}

impl fmt::Debug for RetryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryHandle")
            .field("id", self.id())
            .field("config", &self.config())
            .field("budget", &self.inner.budget)
            .field("replay", &self.inner.memory)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use buttress_core::layer::LayerBuilder;
    use tower::{Layer, ServiceExt};

    use crate::{BudgetConfig, RetryConfig, RetryLayer};

    /// A budget of `min_per_sec` retries a second over one second, with
    /// no ratio.
    fn floor_of(min_per_sec: u32) -> Option<BudgetConfig> {
        Some(BudgetConfig {
            ratio: 0.0,
            min_per_sec,
            window: Duration::from_secs(1),
        })
    }

    /// A layer of its own budget, [`floor_of`] `min_per_sec`.
    fn budgeted(min_per_sec: u32) -> RetryLayer {
        RetryLayer::from_config(&RetryConfig {
            budget: floor_of(min_per_sec),
            ..RetryConfig::default()
        })
        .unwrap()
    }

    fn unavailable() -> http::Response<()> {
        http::Response::builder().status(503).body(()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_handle_sees_what_the_services_draw_from_the_budget() {
        // No ratio, a floor of two retries over one second.
        let layer = RetryLayer::builder()
            .configure(|c| {
                c.budget = floor_of(2);
                c.max_attempts = 2;
            })
            .clone_requests()
            .build()
            .unwrap();
        let handle = layer.handle();
        assert_eq!(handle.budget_remaining(), Some(2));
        let failing = tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(unavailable())
        });
        let svc = layer.layer(failing);
        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(handle.budget_remaining(), Some(1));
        svc.oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(layer.handle().budget_remaining(), Some(0));
    }

    #[test]
    fn layers_given_one_budget_draw_on_one_allowance() {
        let first = budgeted(1);
        let budget = first.handle().budget().unwrap().clone();
        let second = RetryLayer::builder().shared_budget(budget).build().unwrap();
        assert_eq!(
            second.handle().config().budget,
            first.handle().config().budget
        );
        let now = buttress_core::clock::now();
        assert!(second.handle().budget().unwrap().withdraw(now));
        assert_eq!(first.handle().budget_remaining(), Some(0));
    }

    #[test]
    fn a_shared_budget_takes_the_place_of_the_configs_budget() {
        let first = budgeted(1);
        let budget = first.handle().budget().unwrap().clone();
        // Whatever the config says, before or after, the shared budget is
        // the one drawn on and the one the handle reports.
        for section in [None, floor_of(50)] {
            let before = RetryLayer::builder()
                .configure(|c| c.budget = section.clone())
                .shared_budget(budget.clone())
                .build()
                .unwrap();
            let after = RetryLayer::builder()
                .shared_budget(budget.clone())
                .configure(|c| c.budget = section.clone())
                .build()
                .unwrap();
            for layer in [before, after] {
                assert_eq!(layer.handle().config().budget, floor_of(1));
                assert_eq!(layer.handle().budget_remaining(), Some(1));
            }
        }
    }

    #[test]
    fn hedge_delays_reload_and_the_schedule_stays() {
        use buttress_core::layer::Reconfigure;

        use crate::HedgeConfig;

        let fixed = |delay_ms| {
            Some(HedgeConfig {
                delay: Some(Duration::from_millis(delay_ms)),
                ..HedgeConfig::default()
            })
        };
        let config = RetryConfig {
            hedge: fixed(100),
            ..RetryConfig::default()
        };
        let handle = RetryLayer::from_config(&config).unwrap().handle();
        let delay =
            |handle: &super::RetryHandle| handle.inner.hedging.as_ref().expect("hedging").delay();
        assert_eq!(delay(&handle), Duration::from_millis(100));

        let faster = RetryConfig {
            hedge: fixed(10),
            ..config.clone()
        };
        handle.reconfigure(&faster).unwrap();
        assert_eq!(delay(&handle), Duration::from_millis(10));
        assert_eq!(handle.config().hedge, faster.hedge);

        // Turning hedging off, or switching to an adaptive delay, is
        // refused and changes nothing.
        let off = RetryConfig {
            hedge: None,
            ..config.clone()
        };
        assert_eq!(handle.reconfigure(&off).unwrap_err().field(), "hedge");
        let adaptive = RetryConfig {
            hedge: Some(HedgeConfig::default()),
            ..config
        };
        assert_eq!(
            handle.reconfigure(&adaptive).unwrap_err().field(),
            "hedge.delay"
        );
        assert_eq!(delay(&handle), Duration::from_millis(10));
    }

    #[test]
    fn adaptive_hedge_bounds_reload_but_not_the_percentile() {
        use buttress_core::layer::Reconfigure;

        use crate::HedgeConfig;

        let config = RetryConfig {
            hedge: Some(HedgeConfig::default()),
            ..RetryConfig::default()
        };
        let handle = RetryLayer::from_config(&config).unwrap().handle();
        let hedging = handle.inner.hedging.clone().expect("hedging");
        // No latencies known yet: the ceiling.
        assert_eq!(hedging.delay(), Duration::from_secs(1));
        let tighter = RetryConfig {
            hedge: Some(HedgeConfig {
                ceiling: Duration::from_millis(200),
                ..HedgeConfig::default()
            }),
            ..config.clone()
        };
        handle.reconfigure(&tighter).unwrap();
        assert_eq!(hedging.delay(), Duration::from_millis(200));
        let other = RetryConfig {
            hedge: Some(HedgeConfig {
                percentile: 99.0,
                ..HedgeConfig::default()
            }),
            ..config
        };
        assert_eq!(
            handle.reconfigure(&other).unwrap_err().field(),
            "hedge.percentile"
        );
    }
}
