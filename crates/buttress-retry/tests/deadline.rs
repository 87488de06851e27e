//! A property (issue 7, "Done when"): over random policies, failure
//! sequences and deadlines, a call never takes longer than its deadline —
//! the request's `RequestContext` deadline or the layer's own timeout,
//! whichever is sooner. Paused clock, so time is exact.
//!
//! The stack is the client stack's shape: retry above core's
//! deadline-aware timeout, which bounds each attempt by the request's
//! deadline.

mod common;

use std::time::Duration;

use buttress_core::RequestContext;
use buttress_core::layer::LayerBuilder;
use buttress_core::timeout::TimeoutLayer;
use buttress_retry::{Jitter, RetryLayer};
use common::{Answer, scripted};
use proptest::prelude::*;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

#[derive(Debug, Clone)]
struct Case {
    max_attempts: u32,
    base_ms: u64,
    max_factor: u32,
    jitter: Jitter,
    seed: u64,
    context_ms: Option<u64>,
    timeout_ms: Option<u64>,
    answers: Vec<(u64, u8, u64)>,
}

fn answer((latency, kind, value): (u64, u8, u64)) -> Answer {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let now = match kind {
        0 => Answer::Status(503),
        1 => Answer::WithHeader(503, "retry-after", leak((value % 4).to_string())),
        2 => Answer::error(|| "connection reset".into()),
        3 => Answer::Status(200),
        4 => Answer::WithHeader(503, "grpc-retry-pushback-ms", leak(value.to_string())),
        _ => Answer::Hang,
    };
    Answer::After(Duration::from_millis(latency), Box::new(now))
}

fn cases() -> impl Strategy<Value = Case> {
    (
        1..=6u32,
        1..=300u64,
        1..=10u32,
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Decorrelated)
        ],
        any::<u64>(),
        proptest::option::of(10..=3_000u64),
        proptest::option::of(10..=3_000u64),
        proptest::collection::vec((0..=1_000u64, 0..=5u8, 0..=1_500u64), 1..=8),
    )
        .prop_map(
            |(max_attempts, base_ms, max_factor, jitter, seed, context_ms, timeout_ms, answers)| {
                Case {
                    max_attempts,
                    base_ms,
                    max_factor,
                    jitter,
                    seed,
                    context_ms: if context_ms.is_none() && timeout_ms.is_none() {
                        Some(1_000)
                    } else {
                        context_ms
                    },
                    timeout_ms,
                    answers,
                }
            },
        )
}

fn run(case: &Case) -> (Duration, Duration, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (log, dependency) = scripted(case.answers.iter().copied().map(answer).collect());
        let base = Duration::from_millis(case.base_ms);
        let svc = RetryLayer::builder()
            .configure(|c| {
                c.max_attempts = case.max_attempts;
                c.backoff.base = base;
                c.backoff.max = base * case.max_factor;
                c.backoff.jitter = case.jitter;
                c.seed = Some(case.seed);
                c.budget = None;
                c.timeout = case.timeout_ms.map(Duration::from_millis);
            })
            .clone_requests()
            .build()
            .unwrap()
            .layer(TimeoutLayer::deadline_only().layer(dependency));

        let start = Instant::now();
        let mut req = http::Request::get("http://dep/").body(()).unwrap();
        if let Some(ms) = case.context_ms {
            let ctx = RequestContext::new(start).with_deadline(start + Duration::from_millis(ms));
            req.extensions_mut().insert(ctx);
        }
        let _ = svc.oneshot(req).await;
        let limit = [case.context_ms, case.timeout_ms]
            .into_iter()
            .flatten()
            .min()
            .map(Duration::from_millis)
            .unwrap();
        (Instant::now() - start, limit, log.count())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn total_time_never_exceeds_the_deadline(case in cases()) {
        let (elapsed, limit, attempts) = run(&case);
        prop_assert!(elapsed <= limit, "took {elapsed:?}, deadline {limit:?}");
        prop_assert!(attempts as u32 <= case.max_attempts);
    }
}
