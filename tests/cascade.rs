//! The cascade demo, shortened: three real services on loopback, both
//! runs, and the outcomes the demo exists to show, asserted as
//! comparisons with wide margins (the machine is shared and noisy).
//! About 25 s.

#![cfg(all(feature = "stack", feature = "serve"))]

#[path = "../examples/cascade/mod.rs"]
mod cascade;

use std::time::Duration;

use cascade::report::{PhaseStats, summarize, summary_text};
use cascade::{Mode, Phase, Settings};

fn phase(stats: &[PhaseStats], phase: Phase) -> &PhaseStats {
    &stats[phase.index()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttress_keeps_the_cascade_from_spreading() {
    let mut settings = Settings::standard().with_duration(Duration::from_secs(10));
    settings.quiet = true;
    let naive = cascade::run(Mode::Naive, &settings).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let buttress = cascade::run(Mode::Buttress, &settings).await;
    let (n, b) = (summarize(&naive), summarize(&buttress));
    println!("{}", summary_text(&n, &b));

    // Every phase got its traffic.
    for stats in n.iter().chain(&b) {
        assert!(
            stats.requests > 50,
            "{:?} got {} requests",
            stats.phase,
            stats.requests
        );
    }

    // While C fails or is slow, B degrades without it: the client keeps
    // getting answers, fast, and C is left alone.
    for p in [Phase::CFails, Phase::CSlow] {
        assert!(phase(&b, p).success >= 95.0, "{p:?}: {:?}", phase(&b, p));
    }
    let (slow_naive, slow_buttress) = (phase(&n, Phase::CSlow), phase(&b, Phase::CSlow));
    assert!(
        slow_buttress.p99 * 4 <= slow_naive.p99,
        "p99 while C is slow: buttress {:?}, naive {:?}",
        slow_buttress.p99,
        slow_naive.p99
    );
    assert!(slow_buttress.success > slow_naive.success);
    let (fail_naive, fail_buttress) = (phase(&n, Phase::CFails), phase(&b, Phase::CFails));
    assert!(
        fail_buttress.c_hits * 4 <= fail_naive.c_hits,
        "requests reaching a failing C: buttress {}, naive {}",
        fail_buttress.c_hits,
        fail_naive.c_hits
    );
    assert!(fail_buttress.fallbacks > 0, "B served fallbacks for C");

    // While B fails, A answers 503 + Retry-After from its open breaker and
    // B is left alone.
    let (b_fail_naive, b_fail_buttress) = (phase(&n, Phase::BFails), phase(&b, Phase::BFails));
    assert!(
        b_fail_buttress.refused_with_hint >= 50.0,
        "failures answered 503 + Retry-After: {:?}",
        b_fail_buttress
    );
    assert!(b_fail_naive.refused_with_hint < 5.0);
    assert!(b_fail_buttress.b_hits * 2 <= b_fail_naive.b_hits);
    assert!(
        b_fail_buttress.p99 <= Duration::from_millis(250),
        "{b_fail_buttress:?}"
    );

    // In the spike, critical requests keep being answered.
    let (spike_naive, spike_buttress) = (phase(&n, Phase::Spike), phase(&b, Phase::Spike));
    assert!(
        spike_buttress.critical_success >= 95.0,
        "{spike_buttress:?}"
    );
    assert!(spike_buttress.critical_success >= spike_naive.critical_success);

    // C and B recover, and the breakers let the traffic back.
    for p in [Phase::CRecovers, Phase::BRecovers] {
        assert!(
            phase(&b, p).recover.is_some(),
            "{p:?} never recovered: {:?}",
            phase(&b, p)
        );
    }
}
