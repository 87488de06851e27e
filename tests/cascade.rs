//! The cascade demo, shortened to 6.5 s per run: three real services on
//! loopback, both runs, and what the demo exists to show, asserted as
//! comparisons with wide margins (the machine is shared and noisy; the
//! demo's own targets are in the comments).

#![cfg(all(feature = "stack", feature = "serve"))]

#[path = "../examples/cascade/mod.rs"]
mod cascade;

use std::time::Duration;

use buttress::Reason;
use cascade::stats::{PhaseStats, summarize};
use cascade::{Mode, Phase, Settings, summary};

fn at(stats: &[PhaseStats], phase: Phase) -> &PhaseStats {
    &stats[phase.index()]
}

fn refused(stats: &PhaseStats, reason: Reason) -> u64 {
    stats
        .rejections
        .iter()
        .filter(|(_, r, _)| *r == reason)
        .map(|(_, _, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttress_keeps_the_cascade_from_spreading() {
    let settings = Settings::short();
    let naive = cascade::run(Mode::Naive, &settings).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let buttress = cascade::run(Mode::Buttress, &settings).await;
    let (n, b) = (summarize(&naive), summarize(&buttress));
    println!("{}", summary::text(&settings, &n, &b));

    for stats in n.iter().chain(&b) {
        assert!(stats.all.requests >= 40, "{stats:?}");
    }

    // Success at least naive's (target: within 1 point) in every phase
    // but the recovery phases.
    for phase in Phase::ALL.into_iter().filter(|p| !p.is_recovery()) {
        let (n, b) = (at(&n, phase), at(&b, phase));
        assert!(
            b.all.success >= n.all.success - 5.0,
            "{phase:?}: buttress {:.1} %, naive {:.1} %",
            b.all.success,
            n.all.success
        );
    }

    // Recovery phases: back within the breaker's wait (500 ms) and its
    // probing, then (target: ≥ 99 %) successful.
    for phase in [Phase::CRecovers, Phase::BRecovers] {
        let recovery = at(&b, phase).recovery.expect("a recovery phase");
        let after = recovery
            .after
            .unwrap_or_else(|| panic!("{phase:?} never recovered"));
        assert!(after <= Duration::from_millis(850), "{phase:?}: {after:?}");
        assert!(recovery.success_after >= 95.0, "{phase:?}: {recovery:?}");
    }

    // While C fails or is slow: fast answers (target p99 ≤ 100 ms), and
    // C spared (target ≤ 10 % of naive's calls while it fails).
    for phase in [Phase::CFails, Phase::CSlow] {
        let stats = at(&b, phase);
        assert!(
            stats.p99 <= Duration::from_millis(250),
            "{phase:?}: {stats:?}"
        );
        assert!(stats.all.degraded >= 90.0, "{phase:?}: {stats:?}");
        assert!(stats.fallbacks > 0, "{phase:?}: B served fallbacks for C");
    }
    let (fail_n, fail_b) = (at(&n, Phase::CFails), at(&b, Phase::CFails));
    assert!(
        fail_b.c_hits * 5 <= fail_n.c_hits,
        "calls reaching a failing C: buttress {}, naive {}",
        fail_b.c_hits,
        fail_n.c_hits
    );
    let slow_n = at(&n, Phase::CSlow);
    assert!(at(&b, Phase::CSlow).p99 * 4 <= slow_n.p99, "{slow_n:?}");

    // While B fails: refused at once with 503 + Retry-After, B spared.
    let (bf_n, bf_b) = (at(&n, Phase::BFails), at(&b, Phase::BFails));
    assert!(bf_b.all.refused >= 50.0, "{bf_b:?}");
    assert!(bf_n.all.refused < 5.0, "{bf_n:?}");
    assert!(bf_b.b_hits * 2 <= bf_n.b_hits, "{bf_b:?} {bf_n:?}");
    assert!(bf_b.p99 <= Duration::from_millis(250), "{bf_b:?}");

    // The greedy caller is held to its quota with 429 + Retry-After; the
    // others do not notice.
    let (gr_n, gr_b) = (at(&n, Phase::Greedy), at(&b, Phase::Greedy));
    assert!(gr_b.greedy.refused >= 50.0, "{gr_b:?}");
    assert!(refused(gr_b, Reason::RateLimited) > 0, "{gr_b:?}");
    assert!(gr_b.all.success >= 95.0, "{gr_b:?}");
    assert!(gr_b.p99 <= gr_n.p99, "{gr_b:?} {gr_n:?}");

    // The spike: critical requests kept (target ≥ 99 %), sheddable ones
    // refused by the shedder.
    let (sp_n, sp_b) = (at(&n, Phase::Spike), at(&b, Phase::Spike));
    assert!(sp_b.critical.success >= 95.0, "{sp_b:?}");
    assert!(sp_b.critical.success >= sp_n.critical.success, "{sp_n:?}");
    assert!(sp_b.sheddable.refused >= 20.0, "{sp_b:?}");
    assert!(refused(sp_b, Reason::Shed) > 0, "{sp_b:?}");
}

/// The demo's stacks are the TOML files; built without `serde`, it uses
/// their twin in code, which must stay the same.
#[cfg(feature = "serde")]
#[test]
fn the_in_code_twin_matches_the_toml() {
    use cascade::config::{A_TOML, B_TOML, from_toml};
    use cascade::in_code;
    for (toml, dependency, twin) in [(A_TOML, "b", in_code::a()), (B_TOML, "c", in_code::b())] {
        let loaded = from_toml(toml, dependency);
        assert_eq!(format!("{:?}", loaded.server), format!("{:?}", twin.server));
        assert_eq!(
            format!("{:?}", loaded.client.config()),
            format!("{:?}", twin.client.config())
        );
        assert_eq!(loaded.client.name(), twin.client.name());
    }
}
