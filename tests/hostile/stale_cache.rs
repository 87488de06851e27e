//! (3) Stale cache bytes: keys and headers outside the budget.
//!
//! Reproduced against an earlier Buttress: a fallback's stale cache was
//! bounded in keys (1,000) and body size (64 KiB), nominally 64 MiB, but
//! the keys and headers that came with small bodies were not counted —
//! long URIs and header-heavy answers held +125 MB against it.
//!
//! Now a stale cache is bounded in bytes too (`max_bytes`, default
//! 64 MiB), and every entry is charged its key, each header's name and
//! value, its body and a conservative estimate of the bookkeeping around
//! them; what it keeps is copied into exactly sized allocations of its own
//! (a header value parsed by hyper is a view into its connection's whole
//! read buffer). The attack: 1,000 distinct 16 KiB URIs, each answered 200
//! with 100 headers of 1 KiB (views into one buffer per answer, as hyper
//! parses them) and a two-byte body — 116 MiB offered, every body far
//! under `max_body`.
//!
//! The figure that matters is what the process holds, so the attack runs
//! alone in a child process (this test binary, re-run on one test) that
//! reads its resident memory before and after: other tests running beside
//! it would blur the measure.

use std::process::Command;
use std::time::Duration;

use buttress::fallback::{FallbackConfig, FallbackLayer, StaleConfig};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

/// Set in the child's environment: run the attack there, not here.
const CHILD: &str = "BUTTRESS_HOSTILE_STALE_CACHE_CHILD";
/// Distinct keys: the default `capacity`.
const KEYS: usize = 1_000;
/// Each key's URI.
const URI_LEN: usize = 16 << 10;
/// Headers per answer, and each one's value.
const HEADERS: usize = 100;
const VALUE_LEN: usize = 1 << 10;
/// The default byte budget.
const BUDGET: usize = 64 << 20;
/// What the allocator may add to the budget in resident memory: rounding,
/// and free chunks not yet reused.
const RSS_SLACK: usize = 8 << 20;

#[test]
fn heavy_keys_and_headers_stay_within_the_stale_byte_budget() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stale_cache::attack_alone",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the attack failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness may print the test's name on the same line first.
    let figures = stdout
        .lines()
        .find_map(|line| line.find("stale cache:").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("no figures from the attack:\n{stdout}"));
    println!("{figures}");
    let figure = |name: &str| -> usize {
        let at = figures.find(&format!("{name} ")).expect(name) + name.len() + 1;
        figures[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect(name)
    };
    assert!(figure("accounted") <= BUDGET, "{figures}");
    if cfg!(target_os = "linux") {
        assert!(figure("resident") <= BUDGET + RSS_SLACK, "{figures}");
    }
}

#[tokio::test(start_paused = true)]
#[ignore = "the attack, run alone in a child process by \
            heavy_keys_and_headers_stay_within_the_stale_byte_budget; \
            run: cargo test --all-features --test hostile stale_cache"]
async fn attack_alone() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let stale = StaleConfig::new(Duration::from_secs(300));
    assert_eq!(
        (stale.capacity, stale.max_bytes),
        (KEYS, BUDGET),
        "the defaults"
    );
    let layer = FallbackLayer::from_config(&FallbackConfig {
        stale: Some(stale),
        ..FallbackConfig::default()
    })
    .unwrap();
    let handle = layer.handle();
    // Each answer's headers are views into one buffer, as hyper parses a
    // response head: kept as they came, each would hold all of it.
    let svc = layer.layer(tower::service_fn(|req: Request<()>| async move {
        if req.headers().contains_key("x-fail") {
            return Err::<_, buttress::core::BoxError>("connection reset".into());
        }
        let head = Bytes::from(vec![b'v'; HEADERS * VALUE_LEN]);
        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
        for i in 0..HEADERS {
            let name = HeaderName::from_bytes(format!("x-heavy-{i}").as_bytes()).unwrap();
            let value = head.slice(i * VALUE_LEN..(i + 1) * VALUE_LEN);
            res.headers_mut()
                .insert(name, HeaderValue::from_maybe_shared(value).unwrap());
        }
        Ok(res)
    }));
    let pad = "p".repeat(URI_LEN);

    // Warm up the runtime and the allocator on one key, then measure.
    let get = |i: usize| {
        Request::get(format!("/items/{i}?pad={pad}"))
            .body(())
            .unwrap()
    };
    let res = svc.clone().oneshot(get(KEYS)).await.unwrap();
    res.into_body().collect().await.unwrap();
    let before = resident();

    for i in 0..KEYS {
        let res = svc.clone().oneshot(get(i)).await.unwrap();
        res.into_body().collect().await.unwrap();
        assert!(handle.stale_bytes() <= BUDGET);
    }
    let after = resident();

    let offered = KEYS * (URI_LEN + HEADERS * VALUE_LEN);
    let (kept, accounted) = (handle.stale_keys(), handle.stale_bytes());
    let resident = after
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    println!(
        "stale cache: offered {offered} bytes ({} MiB) over {KEYS} keys; kept {kept} keys; \
         accounted {accounted} bytes ({} MiB); resident {} bytes ({} MiB); budget {BUDGET} bytes",
        offered >> 20,
        accounted >> 20,
        resident.unwrap_or(0),
        resident.unwrap_or(0) >> 20,
    );
    assert!(accounted <= BUDGET);
    // The budget, not the key count, is what stopped it; and the charge
    // covers at least the keys and headers kept.
    assert!(kept < KEYS && kept > KEYS / 4, "{kept} keys kept");
    assert!(accounted >= kept * (URI_LEN + HEADERS * VALUE_LEN));
    if let Some(resident) = resident {
        assert!(resident <= BUDGET + RSS_SLACK, "{resident} bytes resident");
    }
    // A kept answer is still served whole when its key fails.
    let mut failing = get(0);
    failing
        .headers_mut()
        .insert("x-fail", HeaderValue::from_static("1"));
    let res = svc.oneshot(failing).await.unwrap();
    assert_eq!(
        res.headers().len(),
        HEADERS + 2,
        "kept headers, age, marker"
    );
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ok");
}

/// This process's resident memory in bytes, where the platform says.
fn resident() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}
