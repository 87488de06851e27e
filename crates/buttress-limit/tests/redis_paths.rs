//! Paths of the fleet-wide rate limit (issue 26) that `redis_rate.rs`'s
//! acceptance tests leave out, each on a real `redis-server`:
//!
//! - `fallback = "refuse"` (fail closed): with Redis killed mid-run, or
//!   never reachable, a request no leased permit covers is refused with
//!   the typed rate-limit rejection (a `Rejected` carrying a retry hint of
//!   when Redis is next tried) at once — no decision waits on Redis — and
//!   once Redis is back requests are admitted again within seconds.
//! - Quota overrides (the pinned override leases of `decide.rs`) hold
//!   fleet-wide: two limiter instances sharing one Redis admit an
//!   override key at its own quota, larger or smaller than the default.
//! - Auth: with `requirepass`, the password from the URL authenticates
//!   (calls succeed, no errors); a wrong or missing one builds (building
//!   connects nothing), then every call fails and the limiter falls back
//!   to its local share — no request fails because of it.
//! - `new_keys` bounds Redis calls in a key flood: 20,000 distinct keys
//!   cost a few hundred calls, not one per key.
//!
//! Each test starts its own `redis-server` on a free loopback port
//! (`support/redis_server.rs`; skipped with a message when it is not
//! installed, a failure with `BUTTRESS_REQUIRE_REDIS` set), on real time
//! as in `redis_rate.rs`. About 12 s in all.
//!
//!   cargo test -p buttress-limit --features redis --test redis_paths -- --nocapture

#![cfg(feature = "redis")]

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use buttress_core::Rejected;
use buttress_limit::rate::{
    DistributedStats, QuotaConfig, QuotaOverride, RateLimitConfig, RateLimitHandle, RedisFallback,
    RedisRateConfig,
};
use support::redis_server::RedisServer;
use support::tenant_limiter::{Svc, redis_of, send, tenant_limiter};

/// One test at a time: each counts admissions over real time, which
/// another test's load on the same (two) cores would skew.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A limiter of 50 requests a second per tenant through the Redis at
/// `url`, with a generous Redis timeout and short backoffs; `tune`
/// adjusts the config.
fn limiter(
    url: &str,
    name: &str,
    tune: impl FnOnce(&mut RateLimitConfig),
) -> (Svc, RateLimitHandle) {
    let redis = RedisRateConfig {
        url: url.to_owned(),
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        ..RedisRateConfig::default()
    };
    tenant_limiter(redis, name, QuotaConfig::per_second(50), tune)
}

/// One decision of a paced run.
struct Decision {
    /// Since the run began.
    at: Duration,
    /// How long the limiter took to decide.
    took: Duration,
    refused: Option<Rejected>,
    /// Whether the limiter had Redis marked up, read just before.
    redis_up: bool,
}

/// Sends one request for `key` every `every` for `run` (so at most
/// `run / every` of them, plus a burst of late ticks); every decision.
async fn pace(
    (svc, handle): &mut (Svc, RateLimitHandle),
    key: &str,
    every: Duration,
    run: Duration,
) -> Vec<Decision> {
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut decisions = Vec::new();
    loop {
        let at = ticks.tick().await - start;
        if at >= run {
            return decisions;
        }
        let redis_up = handle.distributed().expect("distributed").redis_up;
        let (refused, took) = send(svc, key).await;
        decisions.push(Decision {
            at,
            took,
            refused,
            redis_up,
        });
    }
}

fn admitted(decisions: &[Decision]) -> usize {
    decisions.iter().filter(|d| d.refused.is_none()).count()
}

/// When the limiter first had Redis marked down, if it did.
fn marked_down(decisions: &[Decision]) -> Option<Duration> {
    decisions.iter().find(|d| !d.redis_up).map(|d| d.at)
}

/// Admitted from `from` on.
fn admitted_from(decisions: &[Decision], from: Duration) -> usize {
    decisions
        .iter()
        .filter(|d| d.at >= from && d.refused.is_none())
        .count()
}

fn slowest(decisions: &[Decision]) -> Duration {
    decisions.iter().map(|d| d.took).max().unwrap_or_default()
}

/// Waits (real time, at most 5 s) until no call is out, so the counters
/// are final.
async fn settled(handle: &RateLimitHandle) -> DistributedStats {
    let started = Instant::now();
    loop {
        let stats = handle.distributed().expect("a distributed limit");
        if stats.in_flight == 0 || started.elapsed() > Duration::from_secs(5) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Decisions never await Redis: this is far below the configured 500 ms
/// timeout, and leaves room for a loaded machine's scheduling.
const PROMPT: Duration = Duration::from_millis(100);

/// How soon after Redis goes away the limiter must have it marked down:
/// `failures` (2) failed calls, each — against a port that refuses
/// connections — ending at once but for the `redis` connection manager's
/// one reconnect retry (a random wait below 200 ms), so about 0.1–0.4 s.
/// Until then a request its leases do not cover is decided on the local
/// share while the failing call is out (as any cold key is).
const MARKED_DOWN_WITHIN: Duration = Duration::from_secs(1);

/// Fail closed: Redis killed mid-run, the limiter refuses what its leases
/// do not cover, at once and with a retry hint no later than its next
/// probe; restarted, it admits at the quota again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_fallback_fails_closed_promptly_and_recovers() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(mut redis) = RedisServer::start("refuse_fallback_fails_closed_promptly_and_recovers")
    else {
        return;
    };
    // 50 a second (burst 50), leases of 10, one replica; 200 a second
    // offered throughout.
    let lease = 10;
    let mut limited = limiter(&redis.url(), "refuse", |c| {
        redis_of(c).fallback = RedisFallback::Refuse;
        redis_of(c).lease = lease;
    });
    let every = Duration::from_millis(5);
    let up = pace(&mut limited, "acme", every, Duration::from_secs(1)).await;
    let stats_up = settled(&limited.1).await;

    redis.stop();
    let down = pace(&mut limited, "acme", every, Duration::from_secs(2)).await;
    let stats_down = settled(&limited.1).await;

    redis.restart();
    let back = pace(&mut limited, "acme", every, Duration::from_secs(3)).await;
    let stats_back = settled(&limited.1).await;

    let down_at = marked_down(&down);
    let last_admitted_down = down
        .iter()
        .rev()
        .find(|d| d.refused.is_none())
        .map(|d| d.at);
    let first_back = back.iter().find(|d| d.refused.is_none()).map(|d| d.at);
    let last_second_back = admitted_from(&back, Duration::from_secs(2));
    let hints: Vec<_> = down
        .iter()
        .filter_map(|d| d.refused.as_ref()?.retry_after())
        .collect();
    println!(
        "up: {}/{} admitted; down: {}/{} admitted, marked down at {down_at:?}, last admitted at \
         {last_admitted_down:?}, retry hints {:?}..={:?}; back: first admitted at {first_back:?}, \
         {last_second_back} in the last second; slowest decision {:?}\nup {stats_up:?}\ndown \
         {stats_down:?}\nback {stats_back:?}",
        admitted(&up),
        up.len(),
        admitted(&down),
        down.len(),
        hints.iter().min(),
        hints.iter().max(),
        slowest(&up).max(slowest(&down)).max(slowest(&back)),
    );

    // Up: Redis leases (burst 50 + 50 a second: about 100).
    assert!(
        stats_up.refills > 0 && stats_up.redis_errors == 0,
        "{stats_up:?}"
    );
    assert!(
        (70..=130).contains(&admitted(&up)),
        "up: {} admitted",
        admitted(&up)
    );

    // Down: no decision waits — none anywhere near the 500 ms timeout.
    assert!(
        slowest(&down) < PROMPT,
        "a decision took {:?}",
        slowest(&down)
    );
    assert!(
        !stats_down.redis_up && stats_down.redis_errors >= 2,
        "{stats_down:?}"
    );
    assert!(stats_down.fallback > 0, "{stats_down:?}");
    let down_at = down_at.expect("Redis marked down");
    assert!(
        down_at < MARKED_DOWN_WITHIN,
        "marked down only at {down_at:?}"
    );
    // From then on the limiter fails closed: at most the permits it held
    // leased are spent, everything else is refused — where the local
    // fallback would go on admitting 50 a second.
    let after = admitted_from(&down, down_at);
    assert!(
        after <= lease as usize,
        "{after} admitted after Redis was marked down"
    );
    assert_eq!(admitted_from(&down, MARKED_DOWN_WITHIN), 0);
    // Every refusal says when to retry: no later than the next probe
    // (`max_backoff` 400 ms with 20 % jitter), never zero.
    for d in &down {
        if let Some(rejected) = &d.refused {
            let hint = rejected.retry_after().expect("a retry hint");
            assert!(
                hint > Duration::ZERO && hint <= Duration::from_millis(500),
                "retry hint {hint:?} at {:?}",
                d.at
            );
            assert_eq!(&*rejected.quota().unwrap().policy, "default");
        }
    }

    // Back: the next probe (at most ~0.5 s away) finds Redis, and the key
    // is admitted at its quota again (its bucket in the fresh Redis full).
    assert!(
        stats_back.redis_up && stats_back.refills > stats_down.refills,
        "{stats_back:?}"
    );
    let first_back = first_back.expect("admitted again once Redis is back");
    assert!(
        first_back < Duration::from_secs(2),
        "first admitted {first_back:?} after the restart"
    );
    assert!(
        (30..=80).contains(&last_second_back),
        "{last_second_back} admitted in the last second, not the quota's ~50"
    );
    assert!(slowest(&back) < PROMPT, "slowest {:?}", slowest(&back));
}

/// Fail closed from the start: Redis never reachable (a loopback port
/// nothing listens on). Once the first failed calls mark it down, every
/// request is refused, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_fallback_with_redis_never_reachable() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // This test needs no server, but skips (or fails) exactly where the
    // others do.
    let Some(redis) = RedisServer::start("refuse_fallback_with_redis_never_reachable") else {
        return;
    };
    drop(redis);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    // Five replicas: the local share that decides while the first calls
    // are out is 10 a second, burst 10.
    let mut limited = limiter(&format!("redis://127.0.0.1:{port}"), "never", |c| {
        redis_of(c).fallback = RedisFallback::Refuse;
        redis_of(c).replicas = 5;
    });
    let run = Duration::from_millis(1_500);
    let decisions = pace(&mut limited, "acme", Duration::from_millis(5), run).await;
    let stats = settled(&limited.1).await;
    let down_at = marked_down(&decisions);
    let last_admitted = decisions
        .iter()
        .rev()
        .find(|d| d.refused.is_none())
        .map(|d| d.at);
    println!(
        "{}/{} admitted (last at {last_admitted:?}), marked down at {down_at:?}; slowest decision \
         {:?}; {stats:?}",
        admitted(&decisions),
        decisions.len(),
        slowest(&decisions)
    );
    assert!(
        slowest(&decisions) < PROMPT,
        "slowest {:?}",
        slowest(&decisions)
    );
    assert!(!stats.redis_up && stats.refills == 0, "{stats:?}");
    assert!(
        stats.redis_errors >= 2 && stats.redis_errors == stats.redis_calls,
        "{stats:?}"
    );
    let down_at = down_at.expect("Redis marked down");
    assert!(
        down_at < MARKED_DOWN_WITHIN,
        "marked down only at {down_at:?}"
    );
    // Before: the local share only (burst 10 + 10 a second); after:
    // nothing, there being no leased permits to spend.
    assert!(
        admitted(&decisions) <= 10 + 10,
        "{} admitted",
        admitted(&decisions)
    );
    assert_eq!(admitted_from(&decisions, down_at), 0);
    for rejected in decisions.iter().filter_map(|d| d.refused.as_ref()) {
        assert!(
            rejected
                .retry_after()
                .is_some_and(|hint| hint > Duration::ZERO)
        );
    }
}

/// Override keys are pinned leases of their own class: two instances
/// sharing one Redis admit each at its own quota, fleet-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_hold_fleet_wide() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(redis) = RedisServer::start("overrides_hold_fleet_wide") else {
        return;
    };
    let tune = |c: &mut RateLimitConfig| {
        c.quota = QuotaConfig::per_second(20);
        c.overrides = vec![
            QuotaOverride::new("big", QuotaConfig::per_second(100).burst(50)).keys(["k-big"]),
            QuotaOverride::new("small", QuotaConfig::per_second(5)).keys(["k-small"]),
        ];
        redis_of(c).replicas = 2;
        redis_of(c).lease = 10;
    };
    // Same name, so the same Redis keys: two replicas of one service.
    let mut replicas = [
        limiter(&redis.url(), "overrides", tune),
        limiter(&redis.url(), "overrides", tune),
    ];
    // (key, class, limit per second, burst)
    let keys = [
        ("k-default", "default", 20, 20),
        ("k-big", "big", 100, 50),
        ("k-small", "small", 5, 5),
    ];
    let run = Duration::from_millis(2_500);
    // Every 5 ms one request per key to each replica: 400 a second per
    // key, four times the largest quota.
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut counts = [[0u64; 2]; 3];
    let mut sent = 0u64;
    while ticks.tick().await - start < run {
        for (k, (key, class, limit, _)) in keys.iter().enumerate() {
            for (r, (svc, _)) in replicas.iter_mut().enumerate() {
                sent += 1;
                match send(svc, key).await.0 {
                    None => counts[k][r] += 1,
                    Some(rejected) => {
                        // A refusal names the key's own policy.
                        let quota = rejected.quota().unwrap();
                        assert_eq!((&*quota.policy, quota.limit), (*class, *limit as u64));
                    }
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64().min(run.as_secs_f64() + 0.1);
    let stats: Vec<_> = replicas
        .iter()
        .map(|(_, h)| h.distributed().unwrap())
        .collect();
    let in_redis: Vec<_> = keys
        .iter()
        .map(|(key, class, ..)| {
            redis.command(&["EXISTS", &format!("buttress:rate:overrides:{class}:{key}")])
        })
        .collect();
    println!(
        "{sent} sent over {secs:.2} s; admitted per key [replica 0, replica 1]: {counts:?}; Redis keys present: {in_redis:?}\n{stats:#?}"
    );

    for (k, (key, _, limit, burst)) in keys.iter().enumerate() {
        let total = counts[k][0] + counts[k][1];
        // A burst plus the rate over the run; the slack covers what the
        // two replicas hold leased (lease × replicas) and the local shares
        // before the first answers — well short of twice the quota (each
        // replica enforcing it alone) or of another class's quota.
        let expected = *burst as f64 + *limit as f64 * secs;
        let (low, high) = (expected * 0.8 - 5.0, expected * 1.2 + 2.0 * 10.0 + 5.0);
        assert!(
            (low..=high).contains(&(total as f64)),
            "{key}: {total} admitted, expected {expected:.0} ({low:.0}..={high:.0})"
        );
        // Both replicas took part: the quota is shared, not one replica's.
        assert!(counts[k].iter().all(|&n| n > 0), "{key}: {:?}", counts[k]);
    }
    // Each class is its own key in Redis.
    assert!(in_redis.iter().all(|v| v == "1"), "{in_redis:?}");
    for stat in &stats {
        assert_eq!((stat.redis_errors, stat.fallback), (0, 0), "{stat:?}");
    }
}

/// `requirepass`: the URL's password authenticates; a wrong or missing
/// one still builds, then fails every call and falls back to the local
/// share (the default fallback), no request failing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_from_the_url() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(redis) = RedisServer::start("auth_from_the_url") else {
        return;
    };
    // The same setting as `--requirepass`, made at run time so the
    // support module needs no change (its own commands do not
    // authenticate: the server is left alone from here on). No client is
    // connected yet: the limiters connect on their first call.
    const SECRET: &str = "s3cret-pass";
    assert_eq!(
        redis.command(&["CONFIG", "SET", "requirepass", SECRET]),
        "OK"
    );
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let cases = [
        (
            "password",
            format!("redis://:{SECRET}@127.0.0.1:{port}"),
            true,
        ),
        (
            "user and password",
            format!("redis://default:{SECRET}@127.0.0.1:{port}"),
            true,
        ),
        (
            "wrong password",
            format!("redis://:wrong-{SECRET}@127.0.0.1:{port}"),
            false,
        ),
        ("no password", format!("redis://127.0.0.1:{port}"), false),
    ];
    let mut limiters: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, url, _))| limiter(url, &format!("auth{i}"), |_| {}))
        .collect();
    // One request every 5 ms to each for 1 s: 200 a second against a
    // quota of 50 (burst 50), about 100 admitted whoever decides.
    let mut admitted = vec![0u64; cases.len()];
    let mut slowest = Duration::ZERO;
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while ticks.tick().await - start < Duration::from_secs(1) {
        for (i, (svc, _)) in limiters.iter_mut().enumerate() {
            let (refused, took) = send(svc, "acme").await;
            admitted[i] += u64::from(refused.is_none());
            slowest = slowest.max(took);
        }
    }
    for (i, (what, _, authenticates)) in cases.iter().enumerate() {
        let stats = settled(&limiters[i].1).await;
        println!("{what}: {} admitted; {stats:?}", admitted[i]);
        assert!(
            (70..=130).contains(&admitted[i]),
            "{what}: {} admitted, not about the quota",
            admitted[i]
        );
        if *authenticates {
            assert!(stats.refills > 0, "{what}: {stats:?}");
            assert_eq!(
                (stats.redis_errors, stats.fallback),
                (0, 0),
                "{what}: {stats:?}"
            );
            assert!(stats.redis_up, "{what}: {stats:?}");
        } else {
            // Every call fails (authentication refused); Redis is marked
            // down and the local share decides.
            assert_eq!(stats.refills, 0, "{what}: {stats:?}");
            assert_eq!(stats.redis_errors, stats.redis_calls, "{what}: {stats:?}");
            assert!(
                stats.redis_errors >= 2 && !stats.redis_up,
                "{what}: {stats:?}"
            );
            assert!(stats.fallback > 0, "{what}: {stats:?}");
        }
    }
    println!("slowest decision {slowest:?}");
    assert!(slowest < PROMPT, "slowest {slowest:?}");
}

/// A flood of invented keys: each key must pass `new_keys` before it
/// gets a lease, so Redis sees about one call per key `new_keys` admits —
/// a few hundred for 20,000 keys — never one per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_keys_bounds_redis_calls_in_a_key_flood() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(redis) = RedisServer::start("new_keys_bounds_redis_calls_in_a_key_flood") else {
        return;
    };
    let (new_rate, new_burst, max_in_flight) = (200u32, 100u32, 16u32);
    let (mut svc, handle) = limiter(&redis.url(), "flood", |c| {
        c.new_keys = QuotaConfig::per_second(new_rate).burst(new_burst);
        redis_of(c).max_in_flight = max_in_flight;
    });
    // 20,000 distinct keys over about a second: 100 every 5 ms.
    let keys = 20_000u32;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut admitted, mut refused) = (0u64, 0u64);
    for batch in 0..keys / 100 {
        ticks.tick().await;
        for i in 0..100 {
            match send(&mut svc, &format!("invented-{batch}-{i}")).await.0 {
                None => admitted += 1,
                Some(rejected) => {
                    // Refused by the newcomers' quota, not a key's own.
                    assert_eq!(&*rejected.quota().unwrap().policy, "new_keys");
                    refused += 1;
                }
            }
        }
    }
    let flood = started.elapsed();
    let stats = settled(&handle).await;
    println!(
        "{keys} keys in {flood:?}: {admitted} admitted, {refused} refused ({} by new_keys); \
         keyed {:?}; {stats:?}",
        handle.new_keys_limited(),
        handle.keyed_stats()
    );
    // `new_keys` admitted its burst plus its rate over the flood.
    let new_keys_admits = u64::from(new_burst) + (f64::from(new_rate) * flood.as_secs_f64()) as u64;
    assert!(
        admitted <= new_keys_admits + 5,
        "{admitted} admitted, new_keys allows about {new_keys_admits}"
    );
    assert_eq!(handle.new_keys_limited(), refused);
    // Redis saw at most one refill per admitted key (the request's cost
    // is owed before its refill goes out, so the refill charges it in
    // its one call), plus what was in flight; a refill skipped for the
    // in-flight cap counts toward the same bound.
    assert!(
        stats.redis_calls + stats.skipped <= admitted + u64::from(max_in_flight),
        "{} calls and {} skipped for {admitted} admitted keys",
        stats.redis_calls,
        stats.skipped
    );
    // And each admitted key did go to Redis (or found the cap full).
    assert!(stats.redis_calls + stats.skipped >= admitted, "{stats:?}");
    assert!(
        stats.redis_calls < u64::from(keys) / 20,
        "{} Redis calls for {keys} keys",
        stats.redis_calls
    );
    assert_eq!(stats.redis_errors, 0, "{stats:?}");
}
