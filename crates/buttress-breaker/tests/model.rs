//! Random sequences of outcomes, durations, overlapping calls, drops and
//! time advances, driven through the breaker and through a plain,
//! obviously-correct model; they must never disagree.

use buttress_core::layer::LayerBuilder;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use buttress_breaker::{
    BackoffConfig, BreakerConfig, CircuitBreakerLayer, SlowCallConfig, State, WindowConfig,
};
use buttress_core::{BoxError, Reason, Rejected};
use http::{Request, Response};
use proptest::prelude::*;
use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceExt};

/// What the dependency does: answer `status` (0: a local rejection
/// before sending) after a delay, or when told.
enum Plan {
    Now(u16, Duration),
    Held(oneshot::Receiver<u16>),
}

fn answer(status: u16) -> Result<Response<()>, Rejected> {
    match status {
        0 => Err(Rejected::new(Reason::BulkheadFull)),
        status => Ok(Response::builder().status(status).body(()).unwrap()),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Call { status: u16, delay_ms: u64 },
    Start { status: u16 },
    Finish { index: usize },
    Drop { index: usize },
    Advance { ms: u64 },
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![4 => Just(200), 3 => Just(500), 1 => Just(404), 1 => Just(0)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (status(), prop_oneof![3 => Just(0u64), 1 => 0..2_500u64])
            .prop_map(|(status, delay_ms)| Op::Call { status, delay_ms }),
        1 => status().prop_map(|status| Op::Start { status }),
        1 => (0..4usize).prop_map(|index| Op::Finish { index }),
        1 => (0..4usize).prop_map(|index| Op::Drop { index }),
        2 => (0..20_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Debug, Clone)]
struct Params {
    size: u32,
    minimum: u32,
    rate: f64,
    slow: Option<(u64, f64)>,
    wait_ms: u64,
    multiplier: f64,
    max_wait_ms: u64,
    probes: u32,
}

fn params() -> impl Strategy<Value = Params> {
    (
        1..12u32,
        1..12u32,
        prop_oneof![Just(25.0), Just(50.0), Just(75.0), Just(100.0)],
        proptest::option::of((500..1_500u64, prop_oneof![Just(50.0), Just(100.0)])),
        1_000..15_000u64,
        prop_oneof![Just(1.0), Just(2.0)],
        1..4u32,
    )
        .prop_map(
            |(size, minimum, rate, slow, wait_ms, multiplier, probes)| Params {
                size,
                minimum: minimum.min(size),
                rate,
                slow,
                wait_ms,
                multiplier,
                max_wait_ms: wait_ms * 3,
                probes,
            },
        )
}

/// The reference: plain data, recomputed from scratch.
#[derive(Debug)]
struct Model {
    p: Params,
    state: State,
    generation: u64,
    /// (failed, slow) of the last `size` calls.
    window: VecDeque<(bool, bool)>,
    open_until: u64,
    reopens: i32,
    admitted: u32,
    done: u32,
    failed: u32,
    slowed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Window(u64),
    Probe(u64),
}

impl Model {
    fn crossed(&self, failed: u64, slow: u64, of: u64) -> bool {
        failed as f64 * 100.0 >= self.p.rate * of as f64
            || self
                .p
                .slow
                .is_some_and(|(_, rate)| slow > 0 && slow as f64 * 100.0 >= rate * of as f64)
    }

    fn enter(&mut self, to: State, now: u64) {
        match to {
            State::Open => {
                self.reopens = if self.state == State::HalfOpen {
                    self.reopens + 1
                } else {
                    0
                };
                let wait = (self.p.wait_ms as f64 * self.p.multiplier.powi(self.reopens))
                    .min(self.p.max_wait_ms as f64);
                self.open_until = now + wait as u64;
            }
            State::HalfOpen => (self.admitted, self.done, self.failed, self.slowed) = (0, 0, 0, 0),
            State::Closed => {
                self.reopens = 0;
                self.window.clear();
            }
            _ => unreachable!(),
        }
        self.state = to;
        self.generation += 1;
    }

    /// Admission at `now` (ms): the role, or the retry hint in ms.
    fn admit(&mut self, now: u64) -> Result<Role, u64> {
        if self.state == State::Open {
            if now < self.open_until {
                return Err(self.open_until - now);
            }
            self.enter(State::HalfOpen, now);
        }
        match self.state {
            State::Closed => Ok(Role::Window(self.generation)),
            State::HalfOpen if self.admitted < self.p.probes => {
                self.admitted += 1;
                Ok(Role::Probe(self.generation))
            }
            State::HalfOpen => Err(self.p.wait_ms.min(1_000)),
            _ => unreachable!(),
        }
    }

    /// Completion at `now` of a call admitted at `start`; `status` 0 is
    /// ignored, `None` cancelled.
    fn complete(&mut self, role: Role, status: Option<u16>, start: u64, now: u64) {
        let slow = self.p.slow.is_some_and(|(after, _)| now - start > after);
        let failed = match status {
            Some(500) => true,
            Some(200) | Some(404) => false,
            _ => {
                if role == Role::Probe(self.generation) && self.state == State::HalfOpen {
                    self.admitted -= 1;
                }
                return;
            }
        };
        match role {
            Role::Window(generation)
                if generation == self.generation && self.state == State::Closed =>
            {
                self.window.push_back((failed, slow));
                if self.window.len() > self.p.size as usize {
                    self.window.pop_front();
                }
                let calls = self.window.len() as u64;
                let failures = self.window.iter().filter(|(f, _)| *f).count() as u64;
                let slows = self.window.iter().filter(|(_, s)| *s).count() as u64;
                if calls >= u64::from(self.p.minimum) && self.crossed(failures, slows, calls) {
                    self.enter(State::Open, now);
                }
            }
            Role::Probe(generation)
                if generation == self.generation && self.state == State::HalfOpen =>
            {
                self.done += 1;
                self.failed += u32::from(failed);
                self.slowed += u32::from(slow);
                let of = u64::from(self.p.probes);
                if self.crossed(u64::from(self.failed), u64::from(self.slowed), of) {
                    self.enter(State::Open, now);
                } else if self.done == self.p.probes {
                    self.enter(State::Closed, now);
                }
            }
            _ => {}
        }
    }
}

type Pending = (
    Pin<Box<dyn Future<Output = Result<Response<()>, BoxError>>>>,
    oneshot::Sender<u16>,
    u16,
    Role,
    u64,
);

fn run(p: Params, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let layer = CircuitBreakerLayer::builder()
            .with_config(BreakerConfig {
                window: WindowConfig::Count { size: p.size },
                minimum_calls: p.minimum,
                failure_rate: p.rate,
                wait: Duration::from_millis(p.wait_ms),
                backoff: BackoffConfig {
                    multiplier: p.multiplier,
                    max_wait: Duration::from_millis(p.max_wait_ms),
                    ..BackoffConfig::default()
                },
                permitted_probes: p.probes,
                slow_calls: p.slow.map(|(after, rate)| SlowCallConfig {
                    threshold: Duration::from_millis(after),
                    rate,
                }),
                ..BreakerConfig::default()
            })
            .name("model")
            .build()
            .unwrap();
        let handle = layer.handle();
        let mut svc = layer.layer(tower::service_fn(|req: Request<Plan>| async move {
            match req.into_body() {
                Plan::Now(status, delay) => {
                    tokio::time::sleep(delay).await;
                    answer(status)
                }
                Plan::Held(rx) => answer(rx.await.unwrap_or(200)),
            }
        }));
        let origin = tokio::time::Instant::now();
        let now = || origin.elapsed().as_millis() as u64;
        let mut model = Model {
            p: p.clone(),
            state: State::Closed,
            generation: 0,
            window: VecDeque::new(),
            open_until: 0,
            reopens: 0,
            admitted: 0,
            done: 0,
            failed: 0,
            slowed: 0,
        };
        let mut pending: Vec<Pending> = Vec::new();

        for op in ops {
            match op {
                Op::Call { status, delay_ms } => {
                    let start = now();
                    let expected = model.admit(start);
                    let plan = Plan::Now(status, Duration::from_millis(delay_ms));
                    let result = svc.ready().await.unwrap().call(Request::new(plan)).await;
                    check_admission(&result, expected)?;
                    if let Ok(role) = expected {
                        model.complete(role, Some(status), start, now());
                    }
                }
                Op::Start { status } => {
                    let start = now();
                    let expected = model.admit(start);
                    let (tx, rx) = oneshot::channel();
                    let mut future = Box::pin(
                        svc.ready()
                            .await
                            .unwrap()
                            .call(Request::new(Plan::Held(rx))),
                    );
                    let polled = future
                        .as_mut()
                        .poll(&mut Context::from_waker(Waker::noop()));
                    match (polled, expected) {
                        (Poll::Pending, Ok(role)) => {
                            pending.push((future, tx, status, role, start))
                        }
                        (Poll::Ready(result), Err(_)) => check_admission(&result, expected)?,
                        (polled, expected) => {
                            prop_assert!(
                                false,
                                "start: breaker {:?}, model {:?}",
                                polled.is_ready(),
                                expected
                            )
                        }
                    }
                }
                Op::Finish { index } if index < pending.len() => {
                    let (future, tx, status, role, start) = pending.remove(index);
                    tx.send(status).unwrap();
                    let _ = future.await;
                    model.complete(role, Some(status), start, now());
                }
                Op::Drop { index } if index < pending.len() => {
                    let (future, _tx, _, role, start) = pending.remove(index);
                    drop(future);
                    model.complete(role, None, start, now());
                }
                Op::Finish { .. } | Op::Drop { .. } => {}
                Op::Advance { ms } => tokio::time::advance(Duration::from_millis(ms)).await,
            }
            prop_assert_eq!(handle.state(), model.state);
            if model.state == State::Closed {
                prop_assert_eq!(handle.stats().calls, model.window.len() as u64);
            }
        }
        Ok(())
    })
}

fn check_admission(
    result: &Result<Response<()>, BoxError>,
    expected: Result<Role, u64>,
) -> Result<(), TestCaseError> {
    let breaker = match result {
        Err(err) => match Rejected::find(&**err) {
            Some(rejected) if rejected.reason() == Reason::CircuitOpen => {
                Err(rejected.retry_after())
            }
            _ => Ok(()),
        },
        Ok(_) => Ok(()),
    };
    match (breaker, expected) {
        (Ok(()), Ok(_)) => Ok(()),
        (Err(hint), Err(ms)) => {
            prop_assert_eq!(hint, Some(Duration::from_millis(ms)));
            Ok(())
        }
        (breaker, expected) => {
            prop_assert!(false, "breaker {:?}, model {:?}", breaker, expected);
            Ok(())
        }
    }
}

proptest! {
    // A fixed seed: the same cases on every run and every machine.
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x00b0_7755),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_agrees_with_the_model(p in params(), ops in proptest::collection::vec(op(), 1..200)) {
        run(p, ops)?;
    }
}
